"""Lots indexed in spending order (ledger.sql.SPEND_ORDER): a spending reads its first lots instead of sorting all of the member's."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0004_lot_transfer_keys_no_own_index'),
        ('members', '0002_member_attributes_member_interests_member_tier'),
        ('tenancy', '0003_program_branding'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='lot',
            name='lot_member_spend_idx',
        ),
        migrations.AddIndex(
            model_name='lot',
            index=models.Index(fields=['member', 'status', 'expires_at', 'earned_at', 'id'], name='lot_member_spend_order_idx'),
        ),
    ]
