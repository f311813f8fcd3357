"""The timeline writer: every entry — typed by a person or recorded by the system — goes through here.

One transaction per entry: render the entry's fragment once, then in one statement lock the incident row,
take the next seq and insert the entry, and ring the doorbell after commit. Nothing here ever updates or deletes an entry (the database
refuses it anyway); corrections, retractions and pins are new entries that point at their target.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import nh3
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.template.defaultfilters import linebreaksbr
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape, urlize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from incidents import live, mentions
from incidents.models import Evidence, Incident, TimelineEntry, User
from incidents.models.errors import InputRefused, Refused
from incidents.timetext import stamps_to_html
from incidents.uploads import CleanFile

MAX_BODY = 5000
# Tags that escaped text plus urlize/linebreaks and the time stamps can produce; nh3 removes anything else
# on the way out.
_ALLOWED_TAGS = {"a", "br", "time", "mark"}
_ALLOWED_ATTRS = {"a": {"href"}, "time": {"datetime", "data-local"}, "mark": {"class", "data-user"}}


class TimelineError(InputRefused):
    """A refused timeline write; the message is shown to the user. Nothing was written."""


class KeyReused(Refused):
    """A form sent again under an idempotency key already used for a *different* entry (another text, kind
    or incident): answering with the old entry would silently drop the new text, so it is a conflict."""

    status = 409


def render_body(text: str) -> SafeString:
    """Escape, keep line breaks, link https URLs, mark time stamps for the viewer's zone — then sanitise the
    result with an allowlist (nh3).

    Escaping first means no user markup survives; nh3 is the belt to those braces (e.g. an href that
    urlize would accept but a browser should not follow). A stamp ("2026-06-03 18:00 UTC", which is how
    the system writes a moment into a text: incidents.timetext) becomes a <time data-local> that the room
    restates in each viewer's zone, like the entry's own time.
    """
    html = linebreaksbr(urlize(escape(text), nofollow=True, autoescape=False), autoescape=False)
    # @mentions become the person's highlighted name, in the stored bytes: everyone sees the same entry.
    clean = nh3.clean(
        mentions.highlight(stamps_to_html(str(html))),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes={"https", "http", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)


def organisation_language() -> translation.override:
    """What the system writes into an entry (its kind, its buttons, a status change's words) is stored once
    and sent as is to every viewer, live and in replays: it is written in the organisation's language
    (settings.LANGUAGE_CODE), not in the language of whoever happened to cause it. What people type stays
    as they typed it."""
    return translation.override(settings.LANGUAGE_CODE)


def _render(entry: TimelineEntry, incident: Incident, files: Sequence[CleanFile]) -> str:
    entry.incident = incident
    # Stored bytes are the same for every viewer: UTC (the browser localises) and the organisation's language.
    with timezone.override(UTC), organisation_language():
        html = _render_template(entry, incident, files)
    # One line per entry keeps the SSE wire format trivial; whitespace between tags is not content.
    return re.sub(r">\s+<", "><", html).strip()


def _render_template(entry: TimelineEntry, incident: Incident, files: Sequence[CleanFile]) -> str:
    return render_to_string(
        "incidents/_entry.html",
        {
            "entry": entry,
            "body_html": render_body(entry.body),
            "can_follow_up": entry.kind in TimelineEntry.POSTABLE,
            "files": [
                {
                    "name": f.original_name,
                    "size": len(f.data),
                    "is_image": f.content_type.startswith("image/"),
                    "url": reverse("incidents:evidence", args=[incident.code, f.code]),
                }
                for f in files
            ],
        },
    )


def timeline_append(
    *,
    incident: Incident,
    kind: str,
    author: User | None,
    body: str = "",
    occurred_at: datetime | None = None,
    is_privileged: bool = False,
    target: TimelineEntry | None = None,
    idempotency_key: str = "",
    files: Sequence[CleanFile] = (),
) -> TimelineEntry:
    """Append one entry. Runs inside the caller's transaction when there is one (status changes, team
    changes), so the entry commits or rolls back with the change it records.

    A repeated idempotency key (double-click, retried POST) is caught by the unique constraint rather than
    looked up first: the common case costs no extra query, the repeat costs one rolled-back insert.
    """

    def insert() -> TimelineEntry:
        return _insert(
            incident=incident,
            kind=kind,
            author=author,
            body=body,
            occurred_at=occurred_at,
            is_privileged=is_privileged,
            target=target,
            idempotency_key=idempotency_key,
            files=files,
        )

    try:
        if files or connection.in_atomic_block:
            # Inside the caller's transaction (or a transaction for the entry and its evidence). A savepoint
            # only when an idempotency key may collide and be answered below; a system entry needs none.
            with transaction.atomic(savepoint=bool(idempotency_key)):
                entry = insert()
                _store_evidence(entry, files)
        else:
            # A person's entry on its own (the composer): one statement is its own transaction, so no
            # BEGIN/COMMIT round trips on the hottest write we have.
            entry = insert()
    except IntegrityError:
        # This key was used before (or by a twin request racing us): that entry is the answer, and our seq
        # was rolled back with the rest, so the sequence stays gapless.
        existing = _existing(author, idempotency_key)
        if existing is None:
            raise
        if (existing.incident_id, existing.kind, existing.body) != (incident.pk, kind, body):
            raise KeyReused(
                _(
                    "This form was already sent once with a different text, which was saved then. Your new "
                    "text is still here: send it again and it becomes an entry of its own."
                )
            ) from None
        return existing
    _announce(incident, entry)
    return entry


def _existing(author: User | None, idempotency_key: str) -> TimelineEntry | None:
    if not idempotency_key or author is None:
        return None
    return TimelineEntry.objects.filter(author=author, idempotency_key=idempotency_key).first()


# One statement takes the incident's row lock and the next seq, and inserts the entry with it; the lock is held
# until commit, so seq order is commit order. The fragment is rendered before the seq is known, with a random
# stand-in number that the statement swaps for the seq (nobody can guess it into an entry's text).
_APPEND_SQL = """
WITH next AS (
    UPDATE incidents_incident SET timeline_seq = timeline_seq + 1 WHERE id = %(incident)s RETURNING timeline_seq
)
INSERT INTO incidents_timelineentry
    (incident_id, seq, kind, author_id, body, occurred_at, recorded_at, is_privileged, target_id, html,
     idempotency_key)
SELECT %(incident)s, next.timeline_seq, %(kind)s, %(author)s, %(body)s, %(occurred_at)s, %(recorded_at)s,
       %(is_privileged)s, %(target)s, replace(%(html)s, %(stand_in)s, next.timeline_seq::text), %(key)s
FROM next
RETURNING id, seq, html
"""


def _insert(
    *,
    incident: Incident,
    kind: str,
    author: User | None,
    body: str,
    occurred_at: datetime | None,
    is_privileged: bool,
    target: TimelineEntry | None,
    idempotency_key: str,
    files: Sequence[CleanFile],
) -> TimelineEntry:
    now = timezone.now()
    stand_in = _stand_in()
    entry = TimelineEntry(
        incident_id=incident.pk,
        seq=stand_in,
        kind=kind,
        author=author,
        body=body,
        occurred_at=occurred_at or now,
        recorded_at=now,
        is_privileged=is_privileged,
        target=target,
        idempotency_key=idempotency_key,
    )
    html = _render(entry, incident, files)
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            {
                "incident": incident.pk,
                "kind": kind,
                "author": author.pk if author else None,
                "body": body,
                "occurred_at": entry.occurred_at,
                "recorded_at": now,
                "is_privileged": is_privileged,
                "target": target.pk if target else None,
                "html": html,
                "stand_in": str(stand_in),
                "key": idempotency_key,
            },
        )
        row = cursor.fetchone()
    if row is None:
        raise TimelineError(_("This incident no longer exists."))
    _stored(entry, row)
    return entry


def _stand_in() -> int:
    """18 digits: a valid seq for the URLs in the fragment, swapped for the real one by the INSERT."""
    return 10**17 + secrets.randbelow(9 * 10**17)


def _stored(entry: TimelineEntry, row: tuple[int, int, str]) -> None:
    """The entry as the INSERT's RETURNING (id, seq, html) left it: saved, with its seq in its fragment."""
    entry.pk, entry.seq, entry.html = row
    entry._state.adding = False
    entry._state.db = connection.alias


def _announce(incident: Incident, entry: TimelineEntry) -> None:
    """After commit: the entry to every open room; a drill's summary scores how soon the team wrote."""
    live.publish_on_commit(
        incident_id=incident.pk, seq=entry.seq, html=entry.html, privileged=entry.is_privileged
    )
    if incident.is_drill:
        live.playbook_changed(incident.pk)


def _store_evidence(entry: TimelineEntry, files: Sequence[CleanFile]) -> None:
    for f in files:
        # Server-generated names, outside any public URL; served only by the evidence view.
        default_storage.save(f"evidence/{f.stored_name}", ContentFile(f.data))
        Evidence.objects.create(
            entry=entry,
            code=f.code,
            stored_name=f.stored_name,
            original_name=f.original_name,
            content_type=f.content_type,
            size=len(f.data),
            sha256=f.sha256,
            width=f.width,
            height=f.height,
        )


def timeline_post(
    *,
    incident: Incident,
    actor: User,
    kind: str,
    body: str,
    occurred_at: datetime | None = None,
    is_privileged: bool = False,
    idempotency_key: str = "",
    files: Sequence[CleanFile] = (),
) -> TimelineEntry:
    """A person's entry from the composer."""
    if kind not in TimelineEntry.POSTABLE:
        raise TimelineError(
            _("Choose what kind of entry this is: note, decision, action, external update or evidence.")
        )
    body = body.strip()
    if not body and not files:
        raise TimelineError(_("Write something or attach evidence."))
    if len(body) > MAX_BODY:
        raise TimelineError(_("Keep an entry under %(MAX_BODY)s characters.") % {"MAX_BODY": MAX_BODY})
    now = timezone.now()
    if occurred_at is not None:
        if occurred_at > now + timedelta(minutes=1):
            raise TimelineError(_("An entry cannot be dated in the future."))
        if occurred_at < incident.detected_at - timedelta(days=30):
            raise TimelineError(_("That is more than 30 days before the incident was detected."))
    mentioned = mentions.check(incident, body)  # before anything is written

    def append() -> TimelineEntry:
        return timeline_append(
            incident=incident,
            kind=kind,
            author=actor,
            body=body,
            occurred_at=occurred_at,
            is_privileged=is_privileged,
            idempotency_key=idempotency_key[:64],
            files=files,
        )

    if not mentioned:
        return append()
    with transaction.atomic():  # the entry and its notifications commit together
        entry = append()
        _notify_mentioned(incident, actor, entry, mentioned)
    return entry


def _notify_mentioned(incident: Incident, actor: User, entry: TimelineEntry, people: list[User]) -> None:
    mentions.notify_mentioned(
        incident=incident,
        actor=actor,
        people=people,
        where=gettext("timeline entry #%(seq)s") % {"seq": entry.seq},
        # A privileged entry's words stay in the room (the notification also goes out by e-mail).
        excerpt=gettext("legally privileged: open the room to read it")
        if entry.is_privileged
        else entry.body,
        url=f"{incident.room_url}#entry-{entry.seq}",
        # Keyed by the entry: a replayed idempotent POST (same entry back) tells nobody twice.
        key=f"mention:entry:{entry.pk}",
    )


def _target(incident: Incident, seq: int) -> TimelineEntry:
    target = TimelineEntry.objects.filter(incident=incident, seq=seq).first()
    if target is None:
        raise TimelineError(_("There is no entry #%(seq)s in this incident.") % {"seq": seq})
    return target


def timeline_correct(
    *, incident: Incident, actor: User, seq: int, body: str, retract: bool = False, idempotency_key: str = ""
) -> TimelineEntry:
    """Correct or retract an entry: a new entry beside it; the original stays, shown struck through."""
    target = _target(incident, seq)
    if target.kind not in TimelineEntry.POSTABLE:
        raise TimelineError(
            _("Only notes, decisions, actions, external updates and evidence can be corrected.")
        )
    if TimelineEntry.objects.filter(target=target, kind=TimelineEntry.Kind.RETRACTION).exists():
        raise TimelineError(_("Entry #%(seq)s has already been retracted.") % {"seq": seq})
    body = body.strip()
    if not body:
        raise TimelineError(_("Say what was wrong (a retraction) or what is right (a correction)."))
    if len(body) > MAX_BODY:
        raise TimelineError(_("Keep an entry under %(MAX_BODY)s characters.") % {"MAX_BODY": MAX_BODY})
    kind = TimelineEntry.Kind.RETRACTION if retract else TimelineEntry.Kind.CORRECTION
    mentioned = mentions.check(incident, body)

    def append() -> TimelineEntry:
        return timeline_append(
            incident=incident,
            kind=kind,
            author=actor,
            body=body,
            target=target,
            is_privileged=target.is_privileged,
            idempotency_key=idempotency_key[:64],
        )

    if not mentioned:
        return append()
    with transaction.atomic():  # the entry and its notifications commit together
        entry = append()
        _notify_mentioned(incident, actor, entry, mentioned)
    return entry


def pinned_seqs(incident: Incident) -> set[int]:
    """Entries currently pinned as key events: the latest pin/unpin per target wins."""
    state: dict[int, bool] = {}
    for kind, target_seq in (
        TimelineEntry.objects.filter(
            incident=incident, kind__in=(TimelineEntry.Kind.PIN, TimelineEntry.Kind.UNPIN)
        )
        .order_by("seq")
        .values_list("kind", "target__seq")
    ):
        state[target_seq] = kind == TimelineEntry.Kind.PIN
    return {seq for seq, pinned in state.items() if pinned}


@transaction.atomic
def timeline_pin(*, incident: Incident, actor: User, seq: int, pinned: bool) -> TimelineEntry:
    """Mark (or unmark) a key event. Recorded as an entry, never an edit."""
    Incident.objects.select_for_update().only("id").get(pk=incident.pk)  # serialise toggles
    target = _target(incident, seq)
    if target.kind in TimelineEntry.ABOUT_ANOTHER:
        raise TimelineError(_("Pin the entry itself, not a correction or a pin."))
    currently = seq in pinned_seqs(incident)
    if currently == pinned:
        raise TimelineError(
            (_("Entry #%(seq)s is already pinned.") if pinned else _("Entry #%(seq)s is not pinned."))
            % {"seq": seq}
        )
    return timeline_append(
        incident=incident,
        kind=TimelineEntry.Kind.PIN if pinned else TimelineEntry.Kind.UNPIN,
        author=actor,
        target=target,
        body="",
    )


def timeline_record(*, incident: Incident, kind: str, actor: User | None, text: str) -> TimelineEntry:
    """A system entry (status, severity, team, statements, reminders) — same path as a person's."""
    if kind not in TimelineEntry.SYSTEM:
        raise ValueError(kind)
    return timeline_append(incident=incident, kind=kind, author=actor, body=text)


# Several system entries of one change in one statement: the seqs base+1 … base+n, taken under the same lock.
_APPEND_MANY_SQL = """
WITH next AS (
    UPDATE incidents_incident SET timeline_seq = timeline_seq + %(n)s WHERE id = %(incident)s
    RETURNING timeline_seq - %(n)s AS base
)
INSERT INTO incidents_timelineentry
    (incident_id, seq, kind, author_id, body, occurred_at, recorded_at, is_privileged, target_id, html,
     idempotency_key)
SELECT %(incident)s, next.base + e.n, %(kind)s, %(author)s, e.body, %(now)s, %(now)s, false, NULL,
       replace(e.html, e.stand_in, (next.base + e.n)::text), ''
FROM next, unnest(%(bodies)s::text[], %(htmls)s::text[], %(stand_ins)s::text[]) WITH ORDINALITY AS e(body, html, stand_in, n)
ORDER BY e.n
RETURNING id, seq, html
"""


def timeline_record_many(
    *, incident: Incident, kind: str, actor: User | None, texts: Sequence[str]
) -> list[TimelineEntry]:
    """`timeline_record` for several entries of one change (a team staffed at once): the same entries, in
    the order given, in one statement instead of one each. Inside the caller's transaction."""
    if kind not in TimelineEntry.SYSTEM:
        raise ValueError(kind)
    if len(texts) < 2:
        return [timeline_record(incident=incident, kind=kind, actor=actor, text=t) for t in texts]
    now = timezone.now()
    entries, stand_ins = [], []
    for text in texts:
        stand_in = _stand_in()
        entry = TimelineEntry(
            incident_id=incident.pk,
            seq=stand_in,
            kind=kind,
            author=actor,
            body=text,
            occurred_at=now,
            recorded_at=now,
        )
        entry.html = _render(entry, incident, ())
        entries.append(entry)
        stand_ins.append(str(stand_in))
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_MANY_SQL,
            {
                "n": len(entries),
                "incident": incident.pk,
                "kind": kind,
                "author": actor.pk if actor else None,
                "now": now,
                "bodies": [e.body for e in entries],
                "htmls": [e.html for e in entries],
                "stand_ins": stand_ins,
            },
        )
        rows = sorted(cursor.fetchall(), key=lambda row: row[1])
    if len(rows) != len(entries):
        raise TimelineError(_("This incident no longer exists."))
    for entry, row in zip(entries, rows, strict=True):
        _stored(entry, row)
        live.publish_on_commit(incident_id=incident.pk, seq=entry.seq, html=entry.html)
    if incident.is_drill:
        live.playbook_changed(incident.pk)  # once for the change, not once an entry
    return entries


def new_idempotency_key() -> str:
    return uuid.uuid4().hex
