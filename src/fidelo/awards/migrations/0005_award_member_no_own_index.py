"""Foreign keys that lead a composite index lose their own single-column index: one index less to update on every insert."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('awards', '0004_award_campaign'),
        ('members', '0002_member_attributes_member_interests_member_tier'),
    ]

    operations = [
        migrations.AlterField(
            model_name='award',
            name='member',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='awards', to='members.member'),
        ),
    ]
