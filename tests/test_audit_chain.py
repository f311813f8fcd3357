"""The hash chain over the audit log (R24): sealed rows verify; tampering with a row, deleting one, reordering,
slipping one in or cutting the end is named at the first broken link; concurrent writers and sealers leave a
chain with no gaps and nothing twice; a row is never sealed past a transaction that is still open."""

from __future__ import annotations

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from incidents.audit import chain
from incidents.audit.models import AuditEvent, AuditSeal, AuditSealer
from incidents.audit.tasks import seal_audit_chain
from incidents.models import IncidentRole, ResponsePolicy
from tests.helpers import race

pytestmark = pytest.mark.django_db(transaction=True)

# A long transaction anywhere in the PostgreSQL cluster (other test runs share it) holds sealing back.
SEAL_TIMEOUT = 180.0


def pg():
    connection.ensure_connection()
    return connection.connection


def write(n: int, prefix: str = "v") -> None:
    for i in range(n):
        IncidentRole.objects.filter(slug="observer").update(description=f"{prefix}{i}")


def write_then_fail() -> None:
    with transaction.atomic():
        write(1, "never")
        raise RuntimeError


def seal_all():
    return chain.seal_all(pg(), timeout=SEAL_TIMEOUT)


def verify(**kwargs):
    return chain.verify(pg(), **kwargs)


def raw(*statements: str) -> None:
    """As a database superuser would: with every trigger off (session_replication_role = replica)."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def link_of(event_id: int) -> int:
    return AuditSeal.objects.get(event_id=event_id).seq


def sealed_rows(n: int = 6) -> list[int]:
    write(n)
    seal_all()
    ids = list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    assert verify().ok
    return ids


def audit_verify_fails() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify")
    assert failure.value.returncode == 1
    return str(failure.value)


# --- an intact chain ---------------------------------------------------------------------------------------------


def test_sealed_chain_covers_every_row_in_id_order_and_verifies(capsys):
    ids = sealed_rows(8)
    seals = list(AuditSeal.objects.order_by("seq").values_list("seq", "event_id"))
    assert seals == list(enumerate(ids, start=1))
    result = verify()
    assert (result.links, result.pending, result.broken) == (len(ids), 0, None)
    call_command("audit_verify")
    assert f"Audit chain intact: {len(ids)} link(s)" in capsys.readouterr().out


def test_rows_wait_for_the_sealer_and_are_reported_pending_not_broken():
    sealed_rows(3)
    write(2, "later")
    result = verify()
    assert result.ok
    assert result.pending == 2


def test_the_beat_task_arms_then_seals():
    write(3)
    first = seal_audit_chain.apply().get()
    assert first == 0  # the first run only arms the range
    deadline_rows = AuditEvent.objects.count()
    # Later runs seal it once the transactions older than the range have ended (normally the next run).
    for _ in range(int(SEAL_TIMEOUT / 0.05)):
        if AuditSeal.objects.count() == deadline_rows:
            break
        seal_audit_chain.apply()
        threading.Event().wait(0.05)
    assert AuditSeal.objects.count() == deadline_rows
    assert verify().ok


# --- tampering is named at the first broken link ------------------------------------------------------------------


def test_a_changed_row_is_named():
    ids = sealed_rows()
    target = ids[3]
    raw(f"""UPDATE audit_event SET new_values = '{{"description": "forged"}}' WHERE id = {target}""")
    result = verify()
    assert result.broken is not None
    assert (result.broken.seq, result.broken.event_id) == (link_of(target), target)
    assert "does not match" in result.broken.reason
    message = audit_verify_fails()
    assert f"link #{link_of(target)} (audit row #{target})" in message
    assert "incidents_incidentrole" in message


def test_a_deleted_row_is_named():
    ids = sealed_rows()
    target = ids[2]
    seq = link_of(target)
    raw(f"DELETE FROM audit_event WHERE id = {target}")
    broken = verify().broken
    assert broken is not None
    assert (broken.seq, broken.event_id, broken.reason) == (
        seq,
        target,
        "the audit row it covers has been deleted",
    )


def test_a_deleted_row_and_its_link_are_named():
    ids = sealed_rows()
    target = ids[2]
    seq = link_of(target)
    raw(f"DELETE FROM audit_seal WHERE event_id = {target}", f"DELETE FROM audit_event WHERE id = {target}")
    broken = verify().broken
    assert broken is not None
    assert broken.seq == seq
    assert "jumps" in broken.reason
    assert f"link #{seq}" in audit_verify_fails()


def test_reordered_rows_are_named_at_the_first_of_them():
    ids = sealed_rows()
    a, b = ids[1], ids[4]
    raw(  # one statement: the FROM side still sees the rows as they were, so this swaps them
        "UPDATE audit_event e SET new_values = o.new_values, old_values = o.old_values FROM audit_event o "
        f"WHERE (e.id, o.id) IN (({a}, {b}), ({b}, {a}))"
    )
    broken = verify().broken
    assert broken is not None
    assert (broken.seq, broken.event_id) == (link_of(a), a)


def test_reordered_links_are_named():
    ids = sealed_rows()
    a, b = ids[1], ids[2]
    raw(
        f"UPDATE audit_seal SET event_id = -1 WHERE event_id = {a}",
        f"UPDATE audit_seal SET event_id = {a} WHERE event_id = {b}",
        f"UPDATE audit_seal SET event_id = {b} WHERE event_id = -1",
    )
    broken = verify().broken
    assert broken is not None
    assert broken.seq == 2  # link 2 now points at the third row: its hash no longer matches


def test_a_row_slipped_into_the_sealed_range_is_named():
    write(2)
    with pytest.raises(RuntimeError):  # a rolled-back write leaves a gap in the ids
        write_then_fail()
    write(2, "after")
    seal_all()
    ids = list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    gap = next(i for i in range(ids[0], ids[-1]) if i not in ids)
    raw(
        "INSERT INTO audit_event (id, txid, occurred_at, table_name, row_pk, op, actor, request_id, origin, changed) "
        f"VALUES ({gap}, 1, now(), 'incidents_user', '1', 'U', 'system', '', '', '{{}}')"
    )
    broken = verify().broken
    assert broken is not None
    assert broken.event_id == gap
    assert broken.seq == link_of(min(i for i in ids if i > gap))
    assert "not in the chain" in broken.reason


def test_links_cut_off_the_end_are_noticed():
    ids = sealed_rows()
    head = AuditSealer.objects.get().head_seq
    raw(f"DELETE FROM audit_seal WHERE event_id = {ids[-1]}", f"DELETE FROM audit_event WHERE id = {ids[-1]}")
    broken = verify().broken
    assert broken is not None
    assert broken.seq == head
    assert f"had reached link #{head}" in broken.reason


def test_a_rewritten_chain_verifies_on_its_own_but_not_against_the_logged_head():
    ids = sealed_rows()
    state = AuditSealer.objects.get()
    anchor = (state.head_seq, bytes(state.head_hash))
    call_command("audit_verify", head=f"{anchor[0]}:{anchor[1].hex()}")
    # A superuser forges a row and recomputes every link after it.
    target = ids[2]
    seq = link_of(target)
    previous = bytes(AuditSeal.objects.get(seq=seq - 1).hash) if seq > 1 else chain.GENESIS
    raw(
        f"""UPDATE audit_event SET new_values = '{{"description": "forged"}}' WHERE id = {target}""",
        f"DELETE FROM audit_seal WHERE seq >= {seq}",
        f"UPDATE audit_sealer SET low_id = {target}, armed_last_id = NULL, armed_xid = NULL, "
        f"head_seq = {seq - 1}, head_hash = '\\x{previous.hex()}'::bytea",
    )
    seal_all()
    assert verify().ok
    broken = verify(anchor=anchor).broken
    assert broken is not None
    assert broken.seq == anchor[0]
    assert "anchor" in broken.reason
    with pytest.raises(CommandError):
        call_command("audit_verify", head=f"{anchor[0]}:{anchor[1].hex()}")


# --- concurrency ----------------------------------------------------------------------------------------------------


def test_concurrent_writers_and_sealers_leave_one_gapless_chain():
    writers, per_writer = 6, 15
    stop = threading.Event()
    sealer_errors: list[BaseException] = []

    def sealer():
        from django.db import connection as own

        try:
            while not stop.is_set():
                own.ensure_connection()
                chain.seal(own.connection)
        except BaseException as exc:  # pragma: no cover - reported below
            sealer_errors.append(exc)
        finally:
            own.close()

    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    for t in sealers:
        t.start()

    def writer(i: int) -> int:
        committed = 0
        for n in range(per_writer):
            try:
                with transaction.atomic():
                    ResponsePolicy.objects.filter(severity=f"sev{1 + i % 4}").update(
                        first_response_minutes=1000 + i * 100 + n
                    )
                    IncidentRole.objects.filter(slug="observer").update(description=f"w{i}-{n}")
                    if n % 5 == 4:
                        raise RuntimeError("rolled back on purpose")
                committed += 2
            except RuntimeError:
                pass
        return committed

    try:
        results = race(writers, writer)
    finally:
        stop.set()
        for t in sealers:
            t.join(30)
    assert not sealer_errors
    committed = [r for r in results if isinstance(r, int)]
    assert len(committed) == writers, results
    seal_all()
    events = list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    seals = list(AuditSeal.objects.order_by("seq").values_list("seq", "event_id"))
    updates = AuditEvent.objects.filter(
        op="U", table_name__in=["incidents_responsepolicy", "incidents_incidentrole"]
    ).count()
    assert updates == sum(committed)  # every committed change once, nothing of the rolled-back ones
    assert [s for s, _ in seals] == list(range(1, len(seals) + 1))  # no gap in the chain
    assert [e for _, e in seals] == events  # every committed row, once, in id order
    assert verify().ok


def test_the_sealer_never_passes_a_row_whose_transaction_is_still_open():
    write(2)
    seal_all()
    written, release = threading.Event(), threading.Event()
    slow_row: list[int] = []

    def slow_writer():
        from django.db import connection as own

        try:
            with transaction.atomic():
                IncidentRole.objects.filter(slug="scribe").update(description="slow")
                slow_row.append(AuditEvent.objects.order_by("-id").values_list("id", flat=True)[0])
                written.set()
                release.wait(SEAL_TIMEOUT)
        finally:
            own.close()

    holder = threading.Thread(target=slow_writer)
    holder.start()
    try:
        assert written.wait(30)
        write(3, "fast")  # committed rows with higher ids than the open transaction's
        for _ in range(5):
            chain.seal(pg())
        state = AuditSealer.objects.get()
        assert state.low_id <= slow_row[0]
        assert not AuditSeal.objects.filter(event_id__gte=slow_row[0]).exists()
    finally:
        release.set()
        holder.join(30)
    seal_all()
    ids = list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    assert list(AuditSeal.objects.order_by("seq").values_list("event_id", flat=True)) == ids
    assert slow_row[0] in ids
    assert verify().ok


def test_a_bookmark_from_another_cluster_is_re_armed_not_trusted():
    sealed_rows(2)
    write(2, "after-restore")
    # As after a restore into a cluster whose transaction ids are far lower than the bookmark's.
    raw("UPDATE audit_sealer SET armed_last_id = 10, armed_xid = 9000000000000")
    seal_all()
    assert AuditSeal.objects.count() == AuditEvent.objects.count()
    assert verify().ok
