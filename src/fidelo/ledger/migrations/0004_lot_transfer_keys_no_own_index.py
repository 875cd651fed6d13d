"""The foreign keys that lead a composite index lose their own single-column index.

Each insert of a transfer or a lot updated an index that the composite one already gives
(transfer_debit_idx, transfer_credit_idx, transfer_org_kind_idx, lot_member_spend_idx).
On SQLite, altering a column rebuilds the table and drops its triggers: the append-only
trigger of migration 0002 is created again after.
"""

import django.db.models.deletion
from django.db import migrations, models


def append_only_again(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            """CREATE TRIGGER IF NOT EXISTS ledger_transfer_no_update BEFORE UPDATE ON ledger_transfer
               BEGIN SELECT RAISE(ABORT, 'ledger_transfer is append-only'); END"""
        )


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_wallet_accounts'),
        ('members', '0002_member_attributes_member_interests_member_tier'),
        ('tenancy', '0003_program_branding'),
    ]

    operations = [
        migrations.AlterField(
            model_name='lot',
            name='member',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='lots', to='members.member'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='credit',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.account'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='debit',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.account'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.organization'),
        ),
        migrations.RunPython(append_only_again, migrations.RunPython.noop),
    ]
