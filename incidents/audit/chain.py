"""The hash chain over the audit log: the sealer, and the verifier behind `manage.py audit_verify`.

Link n (`audit_seal`, seq n) holds sha256(hash of link n-1 ‖ canonical bytes of one audit row); link 1
starts from 32 zero bytes. Links follow audit row ids, so the chain is the table in id order.

Why a sealer and not a chain step inside the capture trigger: chaining at insert time needs the previous
row's hash, i.e. one lock that every audited writer in the product takes and holds until it commits — a
status change would queue behind an approval behind a playbook save. Here the trigger only inserts its row;
the sealer (a Celery beat task every few seconds, and on demand) hashes rows later, off every hot path.

What the sealer must never do is seal past a row that is not visible yet: a transaction can take id 100,
another id 101 and commit first, and sealing 101 would leave 100 outside the chain for ever. So a range is
sealed only once it is final, in two steps:

1. arm: read the newest id handed out so far (`newest`), then take our own transaction id (`armed_xid`).
   Every row up to `newest` was written by a transaction whose id is older than ours, because the capture
   trigger runs after the audited write, which had already given its transaction an id;
2. seal, in a later run: once the oldest running transaction id (the snapshot's xmin) has passed
   `armed_xid`, every transaction that could hold an id up to `newest` has committed or rolled back. The
   rows in the range are now exactly the ones that will ever be there: hash them in id order, then arm the
   next range.

A transaction that stays open holds sealing back (never the writers); the rows simply wait. Transaction ids
belong to a PostgreSQL cluster: after a restore into another cluster the counter can be lower than the
bookmark's, which the sealer notices (our own id is older than the armed one) and re-arms.

Hashing happens in Python over bytes PostgreSQL renders the same way in every session and version:
`jsonb_build_array(...)::text` of the row, with the time in UTC. `verify()` is pure reading and works on
any psycopg connection (Django's, or one of its own in warroom/backup.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq

log = logging.getLogger(__name__)

GENESIS = bytes(32)
BATCH = 5000

CANONICAL = """convert_to(jsonb_build_array(
    e.id, e.txid, to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    e.table_name, e.row_pk, e.op, e.incident_id, e.actor, e.actor_id, e.request_id, e.origin,
    e.changed, e.old_values, e.new_values)::text, 'UTF8')"""

Connection = psycopg.Connection[Any]


def link_hash(previous: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(previous + canonical).digest()


@dataclass(frozen=True)
class SealResult:
    sealed: int
    head_seq: int
    head_hash: bytes
    low_id: int  # every audit row below this id is in the chain (or never committed)
    waiting: bool  # a range is armed and waits for older transactions to end


class SealTimeout(Exception):
    """Rows could not be sealed in time: a transaction older than them is still open."""


def _newest_id(cur: psycopg.Cursor[Any]) -> int:
    # The sequence, not max(id): it also counts ids taken by transactions we cannot see yet.
    cur.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM audit_event_id_seq")
    row = cur.fetchone()
    return int(row[0]) if row else 0


def seal(conn: Connection, *, limit: int = 50_000) -> SealResult:
    """One sealer run in its own transaction: seal the armed range if it is final, arm the next one."""
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("The sealer needs a transaction of its own; call it outside transaction.atomic().")
    with conn.cursor() as cur:
        newest = _newest_id(cur)  # before our transaction takes its id: see the module docstring
        with conn.transaction():
            cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cur.execute(
                "INSERT INTO audit_sealer (id, low_id, head_seq, head_hash, updated_at) "
                "VALUES (1, 1, 0, %s, now()) ON CONFLICT (id) DO NOTHING",
                [GENESIS],
            )
            cur.execute(
                "SELECT low_id, armed_last_id, armed_xid, head_seq, head_hash FROM audit_sealer "
                "WHERE id = 1 FOR UPDATE"  # one sealer at a time
            )
            state = cur.fetchone()
            assert state is not None
            low, armed_last, armed_xid, head_seq, head_hash = state
            head_hash = bytes(head_hash)
            cur.execute(
                "SELECT pg_current_xact_id()::text::bigint, pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
            )
            ids = cur.fetchone()
            assert ids is not None
            own_xid, xmin = ids
            if armed_xid is not None and own_xid < armed_xid:
                log.warning(
                    "Transaction ids went backwards (restored into another cluster?): re-arming the sealer."
                )
                armed_last = armed_xid = None
            sealed = 0
            if armed_last is not None and xmin >= armed_xid:
                while sealed < limit:
                    want = min(BATCH, limit - sealed)
                    cur.execute(
                        f"SELECT e.id, {CANONICAL} FROM audit_event e "
                        "WHERE e.id >= %s AND e.id <= %s ORDER BY e.id LIMIT %s",
                        [low, armed_last, want],
                    )
                    rows = cur.fetchall()
                    if rows:
                        seqs, event_ids, hashes = [], [], []
                        for event_id, canonical in rows:
                            head_seq += 1
                            head_hash = link_hash(head_hash, bytes(canonical))
                            seqs.append(head_seq)
                            event_ids.append(event_id)
                            hashes.append(head_hash)
                        cur.execute(
                            "INSERT INTO audit_seal (seq, event_id, hash, sealed_at) "
                            "SELECT s, e, h, now() FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[]) AS t(s, e, h)",
                            [seqs, event_ids, hashes],
                        )
                        sealed += len(rows)
                        low = event_ids[-1] + 1
                    if len(rows) < want or low > armed_last:
                        low = armed_last + 1
                        armed_last = armed_xid = None
                        break
            if armed_last is None and newest >= low:
                armed_last, armed_xid = newest, own_xid
            cur.execute(
                "UPDATE audit_sealer SET low_id = %s, armed_last_id = %s, armed_xid = %s, head_seq = %s, "
                "head_hash = %s, updated_at = now() WHERE id = 1",
                [low, armed_last, armed_xid, head_seq, head_hash],
            )
    if sealed:
        # The head in the application log is an anchor outside the database: `audit_verify --head` checks it.
        log.info("audit chain head seq=%s hash=%s (%s new links)", head_seq, head_hash.hex(), sealed)
    return SealResult(sealed, head_seq, head_hash, low, armed_last is not None)


def seal_all(conn: Connection, *, timeout: float = 30.0, poll: float = 0.02) -> SealResult:
    """Seal every audit row written before this call, waiting (at most `timeout` s) for older transactions."""
    with conn.cursor() as cur:
        target = _newest_id(cur)
    deadline = time.monotonic() + timeout
    while True:
        result = seal(conn)
        if result.low_id > target:
            return result
        if time.monotonic() > deadline:
            raise SealTimeout(
                f"Audit rows up to #{target} are not sealed after {timeout:g} s: a transaction older than them "
                "is still open."
            )
        if not result.sealed:
            time.sleep(poll)


# --- verification -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    seq: int
    event_id: int | None
    reason: str

    def describe(self) -> str:
        row = f" (audit row #{self.event_id})" if self.event_id is not None else ""
        return f"link #{self.seq}{row}: {self.reason}"


@dataclass(frozen=True)
class Verification:
    links: int
    head_hash: bytes
    pending: int  # committed rows above the sealed range, waiting for the sealer
    broken: Broken | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(conn: Connection, *, anchor: tuple[int, bytes] | None = None) -> Verification:
    """Recompute the chain from link 1 and name the first broken link. Reads only, in one snapshot."""
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError(
            "Verify outside transaction.atomic(): it reads the chain in a snapshot of its own."
        )
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _verify(cur, anchor)


def _verify(cur: psycopg.Cursor[Any], anchor: tuple[int, bytes] | None) -> Verification:
    previous, seq, last_event = GENESIS, 0, 0
    broken: Broken | None = None
    anchor_seen = False
    while broken is None:
        cur.execute(
            f"SELECT s.seq, s.event_id, s.hash, CASE WHEN e.id IS NULL THEN NULL ELSE {CANONICAL} END "
            "FROM audit_seal s LEFT JOIN audit_event e ON e.id = s.event_id "
            "WHERE s.seq > %s ORDER BY s.seq LIMIT %s",
            [seq, BATCH],
        )
        rows = cur.fetchall()
        for link_seq, event_id, stored, canonical in rows:
            stored = bytes(stored)
            if link_seq != seq + 1:
                broken = Broken(seq + 1, None, f"missing: the chain jumps from link #{seq} to #{link_seq}")
            elif canonical is None:
                broken = Broken(link_seq, event_id, "the audit row it covers has been deleted")
            elif event_id <= last_event:
                broken = Broken(link_seq, event_id, f"out of order: it follows audit row #{last_event}")
            elif link_hash(previous, bytes(canonical)) != stored:
                broken = Broken(
                    link_seq, event_id, "its hash does not match: the row, or the link before it, was changed"
                )
            if broken is not None:
                break
            if anchor is not None and link_seq == anchor[0]:
                anchor_seen = True
                if stored != anchor[1]:
                    broken = Broken(
                        link_seq, event_id, "differs from the anchor recorded outside the database"
                    )
                    break
            previous, seq, last_event = stored, link_seq, event_id
        if len(rows) < BATCH:
            break

    cur.execute("SELECT low_id, head_seq, head_hash FROM audit_sealer WHERE id = 1")
    state = cur.fetchone()
    low_id = int(state[0]) if state else 1
    if broken is None:
        broken = _check_end(seq, previous, state)
    # A row nobody sealed inside the sealed range was added afterwards (or its link removed with it).
    bound = max(last_event, low_id - 1) if broken is None else (broken.event_id or last_event)
    cur.execute(
        "SELECT min(e.id) FROM audit_event e WHERE e.id <= %s "
        "AND NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.event_id = e.id)",
        [bound],
    )
    hole = cur.fetchone()
    if hole and hole[0] is not None:
        cur.execute("SELECT min(seq) FROM audit_seal WHERE event_id > %s", [hole[0]])
        after = cur.fetchone()
        at = int(after[0]) if after and after[0] is not None else seq + 1
        if broken is None or at <= broken.seq:
            broken = Broken(at, int(hole[0]), f"audit row #{hole[0]} before it is not in the chain")
    if broken is None and anchor is not None and not anchor_seen:
        broken = Broken(anchor[0], None, f"the anchor names link #{anchor[0]}, but the chain ends at #{seq}")
    cur.execute("SELECT count(*) FROM audit_event WHERE id >= %s", [max(low_id, last_event + 1)])
    pending = cur.fetchone()
    return Verification(seq, previous, int(pending[0]) if pending else 0, broken)


def _check_end(seq: int, head: bytes, state: tuple[Any, ...] | None) -> Broken | None:
    """The sealer's bookmark must end where the chain ends: links cut off the end show up here."""
    if state is None:
        return Broken(seq, None, "the sealer's bookmark is missing") if seq else None
    _, head_seq, head_hash = state
    if head_seq > seq:
        return Broken(
            seq + 1, None, f"missing: the sealer had reached link #{head_seq}, the chain ends at #{seq}"
        )
    if head_seq < seq:
        return Broken(head_seq + 1, None, f"beyond the sealer's bookmark (#{head_seq}): links were added")
    if seq and bytes(head_hash) != head:
        return Broken(seq, None, "differs from the head hash the sealer recorded")
    return None
