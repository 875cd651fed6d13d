"""The redemption of a plain voucher in one round trip on PostgreSQL (see fidelo.rewards.sql).

A later change to the tables it writes (ledger_transfer, rewards_voucher, rewards_offerevent,
core_idempotencyrecord) must create the function again in a new migration.
"""

from django.db import migrations

REDEEM_FUNCTION = """
CREATE OR REPLACE FUNCTION fidelo_redeem_voucher(
    p_organization_id bigint, p_member_id bigint, p_unit text, p_amount bigint, p_sink_id bigint, p_reward_id bigint,
    p_limited_stock boolean, p_reason_params jsonb, p_actor text, p_code text, p_channel text, p_at timestamptz,
    p_expires_at timestamptz, p_created_at timestamptz,
    p_key text, p_operation text, p_fingerprint text, p_status integer, p_response jsonb, p_receipt_at timestamptz
) RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_account bigint;
    v_voucher bigint;
    v_transfer bigint;
BEGIN
    UPDATE ledger_account SET balance = balance - p_amount
    WHERE member_id = p_member_id AND kind = 'available' AND unit = p_unit AND balance >= p_amount
    RETURNING id INTO v_account;
    IF v_account IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_limited_stock THEN
        UPDATE rewards_reward SET stock = stock - 1 WHERE id = p_reward_id AND stock > 0;
        IF NOT FOUND THEN
            UPDATE ledger_account SET balance = balance + p_amount WHERE id = v_account;
            RETURN ARRAY[0, 0]::bigint[];
        END IF;
    END IF;
    WITH lots AS (
        SELECT l.id, l.remaining, l.expires_at, l.earned_at,
               SUM(l.remaining) OVER (ORDER BY (l.expires_at IS NULL), l.expires_at, l.earned_at, l.id) AS running
        FROM ledger_lot l
        WHERE l.member_id = p_member_id AND l.unit = p_unit AND l.status = 'available' AND l.remaining > 0
    ), took AS (
        SELECT lots.id, LEAST(lots.remaining, p_amount - (lots.running - lots.remaining)) AS take, lots.expires_at, lots.earned_at, lots.running
        FROM lots WHERE lots.running - lots.remaining < p_amount
    ), upd AS (
        UPDATE ledger_lot l
        SET remaining = l.remaining - took.take,
            status = CASE WHEN l.remaining - took.take = 0 THEN 'closed' ELSE 'available' END
        FROM took WHERE l.id = took.id
        RETURNING l.id
    ), t AS (
        INSERT INTO ledger_transfer (organization_id, unit, debit_id, credit_id, amount, kind, reason, reason_params, note, source_type,
                                     source_id, actor, occurred_at, created_at)
        VALUES (p_organization_id, p_unit, v_account, p_sink_id, p_amount, 'redeem', 'redemption', p_reason_params, '', 'reward',
                p_reward_id, p_actor, p_at, p_created_at)
        RETURNING id
    ), v AS (
        INSERT INTO rewards_voucher (organization_id, member_id, reward_id, code, status, points, spent_lots, redeem_transfer_id,
                                     channel, issued_at, expires_at, used_value_minor, used_purchase_external_id)
        SELECT p_organization_id, p_member_id, p_reward_id, p_code, 'issued', p_amount,
               COALESCE((SELECT jsonb_agg(jsonb_build_object('amount', took.take, 'expires_at', took.expires_at, 'earned_at', took.earned_at)
                                          ORDER BY took.running) FROM took), '[]'::jsonb),
               t.id, p_channel, p_at, p_expires_at, 0, ''
        FROM t
        RETURNING id
    ), o AS (
        INSERT INTO rewards_offerevent (organization_id, reward_id, member_id, kind, at)
        SELECT p_organization_id, p_reward_id, p_member_id, 'requested', p_at FROM v
        RETURNING id
    ), i AS (
        INSERT INTO core_idempotencyrecord (organization_id, key, operation, fingerprint, status_code, response, created_at)
        SELECT p_organization_id, p_key, p_operation, p_fingerprint, p_status, p_response, p_receipt_at FROM v
        RETURNING id
    )
    SELECT v.id, t.id INTO v_voucher, v_transfer
    FROM t, v, (SELECT COUNT(*) FROM upd) AS u, (SELECT COUNT(*) FROM o) AS oc, (SELECT COUNT(*) FROM i) AS ic;
    RETURN ARRAY[v_voucher, v_transfer];
END
$fn$
"""

DROP_REDEEM_FUNCTION = "DROP FUNCTION IF EXISTS fidelo_redeem_voucher(bigint, bigint, text, bigint, bigint, bigint, boolean, jsonb, text, text, " \
    "text, timestamptz, timestamptz, timestamptz, text, text, text, integer, jsonb, timestamptz)"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REDEEM_FUNCTION)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_REDEEM_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("rewards", "0004_vouchers_offer_events_keys_no_own_index"), ("ledger", "0004_lot_transfer_keys_no_own_index"),
                    ("core", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
