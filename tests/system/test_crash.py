"""Crash: the server killed with SIGKILL during a stream of purchases, then restarted.

Every acknowledged purchase is there exactly once, every purchase whose answer was lost can be
retried with the same external id (committed ones replay, the others are recorded now), nothing
is duplicated, and `fidelo ledger verify` passes.
"""

import random
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from fidelo.ops.tests.processes import Server, create_tenant, run_django, run_fidelo

CLIENTS = 8
LOAD_SECONDS = 1.5      # at least this much load before the kill...
MIN_ACKNOWLEDGED = 50   # ...and this many acknowledged purchases (up to MAX_LOAD_SECONDS on a slow machine)
MAX_LOAD_SECONDS = 15
OCCURRED_AT = "2026-03-01T10:00:00+01:00"


@dataclass
class Stream:
    payloads: dict[str, dict] = field(default_factory=dict)   # every purchase sent, by external id
    acked: dict[str, dict] = field(default_factory=dict)      # 201 received: the body
    lost: dict[str, str] = field(default_factory=dict)        # no response: the error class
    started: dict[str, float] = field(default_factory=dict)   # when each request was sent (monotonic)
    unexpected: list[tuple[str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def purchase_payload(external_id: str, rng: random.Random, tenant: dict) -> dict:
    payload = {
        "member": {"id": rng.choice(tenant["member_ids"])},
        "store": tenant["store"],
        "external_id": external_id,
        "occurred_at": OCCURRED_AT,
        "currency": "EUR",
    }
    if rng.random() < 0.5:
        lines = [{"sku": f"SKU-{n}", "quantity": rng.randint(1, 3), "unit_price_cents": rng.randint(50, 3000)} for n in range(rng.randint(1, 4))]
        payload["lines"] = lines
        payload["total_cents"] = sum(line["quantity"] * line["unit_price_cents"] for line in lines)
    else:
        payload["total_cents"] = rng.randint(100, 20000)
    return payload


def client_loop(number: int, url: str, tenant: dict, stream: Stream, stop: threading.Event) -> None:
    rng = random.Random(number)
    headers = {"Authorization": f"Bearer {tenant['token']}"}
    with httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(10, connect=2)) as client:
        i = 0
        while not stop.is_set():
            external_id = f"crash-{number}-{i}"
            i += 1
            payload = purchase_payload(external_id, rng, tenant)
            with stream.lock:
                stream.payloads[external_id] = payload
                stream.started[external_id] = time.monotonic()
            try:
                response = client.post("/api/v1/purchases", json=payload)
            except httpx.TransportError as exc:
                with stream.lock:
                    stream.lost[external_id] = type(exc).__name__
                time.sleep(0.02)  # the server is gone: do not spin
                continue
            with stream.lock:
                if response.status_code == 201:
                    stream.acked[external_id] = response.json()
                else:
                    stream.unexpected.append((external_id, response.status_code, response.text[:300]))


DB_STATE = """
from django.db.models import Count
from fidelo.ledger.models import Account, Lot, Transfer
from fidelo.purchases.models import Purchase
org_id = {organization_id}
purchases = list(Purchase.objects.filter(organization_id=org_id).values("id", "external_id", "points_earned"))
counts = dict(Purchase.objects.filter(organization_id=org_id).values_list("external_id").annotate(n=Count("id")).values_list("external_id", "n"))
earns = {{}}
for source_id, amount in Transfer.objects.filter(organization_id=org_id, kind="earn", source_type="purchase").values_list("source_id", "amount"):
    earns.setdefault(str(source_id), []).append(amount)
lots = dict(Lot.objects.filter(organization_id=org_id, transfer__kind="earn").values_list("transfer__source_id").annotate(n=Count("id")).values_list("transfer__source_id", "n"))
balance = sum(b or 0 for b in Account.objects.filter(organization_id=org_id, member__isnull=False).values_list("balance", flat=True))
result = {{"purchases": purchases, "counts": counts, "earns": earns, "lots": {{str(k): v for k, v in lots.items()}}, "member_balance_total": balance}}
"""


@pytest.mark.slow
def test_sigkill_under_purchase_load_loses_nothing_acknowledged_and_duplicates_nothing(system_env, servers, tmp_path):
    run_fidelo(system_env, "migrate", "--verbosity", "0")
    tenant = create_tenant(system_env, members=20)
    log = tmp_path / "serve.log"

    server = Server(system_env, log=log)
    servers.append(server)
    server.start()

    stream, stop = Stream(), threading.Event()
    threads = [threading.Thread(target=client_loop, args=(n, server.url, tenant, stream, stop), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    time.sleep(LOAD_SECONDS)
    while len(stream.acked) < MIN_ACKNOWLEDGED and time.monotonic() - started < MAX_LOAD_SECONDS:
        time.sleep(0.05)
    killed_at = time.monotonic()
    server.kill()  # SIGKILL to serve, granian and its workers, mid-stream
    time.sleep(0.2)  # let the clients see the dead server
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    assert not any(thread.is_alive() for thread in threads)

    assert not stream.unexpected, stream.unexpected[:5]
    assert len(stream.acked) >= 20, f"too little load before the kill ({len(stream.acked)} acknowledged)"
    assert set(stream.acked) | set(stream.lost) == set(stream.payloads)
    # Lost while the server was alive: sent before the kill, answer never came.
    in_flight = {ext for ext in stream.lost if stream.started[ext] < killed_at}

    restarted = Server(system_env, log=log)
    servers.append(restarted)
    restarted.start()

    headers = {"Authorization": f"Bearer {tenant['token']}"}
    replayed_lost, recorded_now, retry_bodies = set(), set(), {}
    with httpx.Client(base_url=restarted.url, headers=headers, timeout=30) as client:
        # Every purchase whose answer was lost, sent again with the same external id.
        for external_id in sorted(stream.lost):
            response = client.post("/api/v1/purchases", json=stream.payloads[external_id])
            assert response.status_code == 201, (external_id, response.status_code, response.text)
            assert response.json()["external_id"] == external_id
            retry_bodies[external_id] = response.json()
            (replayed_lost if response.headers.get("Idempotent-Replayed") == "true" else recorded_now).add(external_id)
        # A retry of an acknowledged purchase replays the first answer.
        for external_id in sorted(stream.acked)[:25]:
            response = client.post("/api/v1/purchases", json=stream.payloads[external_id])
            assert response.status_code == 201, response.text
            assert response.headers.get("Idempotent-Replayed") == "true"
            assert response.json() == stream.acked[external_id]
        # The first answers of retried purchases are stable too.
        for external_id in sorted(replayed_lost | recorded_now)[:25]:
            again = client.post("/api/v1/purchases", json=stream.payloads[external_id])
            assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
            assert again.json() == retry_bodies[external_id]
    restarted.kill()

    state = run_django(system_env, DB_STATE.format(organization_id=tenant["organization_id"]))
    by_external_id = {row["external_id"]: row for row in state["purchases"]}
    # Exactly once: every purchase sent is there (acknowledged or retried), once, and nothing else.
    assert set(by_external_id) == set(stream.payloads)
    assert all(n == 1 for n in state["counts"].values()), {k: n for k, n in state["counts"].items() if n != 1}
    # An acknowledgement named the row that is in the database.
    for external_id, body in stream.acked.items():
        assert by_external_id[external_id]["id"] == body["id"]
        assert by_external_id[external_id]["points_earned"] == body["points"]["earned"]
    # One earn transfer and one lot per purchase with points, for the purchase's points.
    for row in state["purchases"]:
        if row["points_earned"]:
            assert state["earns"].get(str(row["id"])) == [row["points_earned"]], row
            assert state["lots"].get(str(row["id"])) == 1, row
        else:
            assert str(row["id"]) not in state["earns"], row
    assert len(state["earns"]) == sum(1 for row in state["purchases"] if row["points_earned"])
    assert state["member_balance_total"] == sum(row["points_earned"] for row in state["purchases"])

    verify = run_fidelo(system_env, "ledger", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    print(
        f"\ncrash test: {len(stream.payloads)} sent, {len(stream.acked)} acknowledged, "
        f"{len(stream.lost)} lost ({len(in_flight)} in flight at the kill, {len(stream.lost) - len(in_flight)} sent after it), "
        f"retried: {len(replayed_lost)} had been committed (replayed), {len(recorded_now)} recorded on retry"
    )
