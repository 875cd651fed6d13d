"""Foreign keys no query reads alone (organizations and rules are never deleted) lose their own index: two index entries less per award row."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('awards', '0005_award_member_no_own_index'),
        ('rules', '0001_initial'),
        ('tenancy', '0003_program_branding'),
    ]

    operations = [
        migrations.AlterField(
            model_name='award',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.organization'),
        ),
        migrations.AlterField(
            model_name='award',
            name='rule',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='awards', to='rules.rule'),
        ),
    ]
