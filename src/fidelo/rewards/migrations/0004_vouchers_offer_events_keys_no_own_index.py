"""Foreign keys that lead a composite index lose their own single-column index: one index less to update on every insert."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0002_member_attributes_member_interests_member_tier'),
        ('rewards', '0003_campaign_partial_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='offerevent',
            name='reward',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='offer_events', to='rewards.reward'),
        ),
        migrations.AlterField(
            model_name='voucher',
            name='member',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='vouchers', to='members.member'),
        ),
        migrations.AlterField(
            model_name='voucher',
            name='reward',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='vouchers', to='rewards.reward'),
        ),
    ]
