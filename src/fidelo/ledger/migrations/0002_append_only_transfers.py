"""Make ledger_transfer append-only in the database itself (DESIGN.md, ledger invariant 2).

A correction is a new transfer; UPDATE and DELETE on a transfer raise an error whatever
code (or person with a SQL prompt) tries them.

On SQLite only UPDATE is refused by a trigger: Django empties tables with DELETE there
(test flushes), while PostgreSQL uses TRUNCATE, which row triggers do not see. Deletes
through the ORM are refused on both (ledger.models.AppendOnlyQuerySet).
"""

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER ledger_transfer_no_update BEFORE UPDATE ON ledger_transfer
       BEGIN SELECT RAISE(ABORT, 'ledger_transfer is append-only'); END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS ledger_transfer_no_update", "DROP TRIGGER IF EXISTS ledger_transfer_no_delete"]

POSTGRES = [
    """CREATE OR REPLACE FUNCTION ledger_transfer_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'ledger_transfer is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER ledger_transfer_no_update BEFORE UPDATE OR DELETE ON ledger_transfer
       FOR EACH ROW EXECUTE FUNCTION ledger_transfer_append_only()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS ledger_transfer_no_update ON ledger_transfer",
    "DROP FUNCTION IF EXISTS ledger_transfer_append_only()",
]


def forwards(apps, schema_editor):
    statements = {"sqlite": SQLITE, "postgresql": POSTGRES}.get(schema_editor.connection.vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    statements = {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(schema_editor.connection.vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
