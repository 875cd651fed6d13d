"""Foreign keys that lead a composite index lose their own single-column index: one index less to update on every insert."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0002_member_attributes_member_interests_member_tier'),
        ('purchases', '0003_purchase_bonus_reversed_purchase_points_bonus'),
        ('tenancy', '0003_program_branding'),
    ]

    operations = [
        migrations.AlterField(
            model_name='purchase',
            name='member',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to='members.member'),
        ),
        migrations.AlterField(
            model_name='purchase',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.organization'),
        ),
        migrations.AlterField(
            model_name='purchaseline',
            name='purchase',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='purchases.purchase'),
        ),
        migrations.AlterField(
            model_name='visit',
            name='member',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='visits', to='members.member'),
        ),
    ]
