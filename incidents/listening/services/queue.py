"""The response queue of an incident: mentions that need an answer, loudest first.

Claiming is one conditional UPDATE (state still open): of two people clicking at once, one wins and the
other is told who did. Replying records what was said (a template, an approved statement's exact text, or
the person's own words) and where it was posted; closing needs a reason. Loud authors get a reply deadline
through the deadlines machinery (its reminders and escalations), completed by the reply. Every other change
carries the version the person saw, so a stale click changes nothing (409).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening import live
from incidents.listening.models import (
    CloseReason,
    HideReason,
    ItemState,
    Mention,
    ReplyTemplate,
    ResponseItem,
)
from incidents.listening.queueing import queue_mentions
from incidents.listening.records import FieldProblem, parse_url
from incidents.listening.services import Conflict, ListeningError, require_incident_perm
from incidents.models import (
    DeadlineState,
    Incident,
    Perm,
    StatementStatus,
    StatementVersion,
    TimelineEntry,
    User,
    text_sha256,
)
from incidents.services import timeline_append
from incidents.services.deadlines import deadline_met, deadline_void
from incidents.services.timeline import organisation_language

MAX_REPLY = 5000


def _locked(item: ResponseItem, expected_version: int | None) -> ResponseItem:
    current = (
        ResponseItem.objects.select_for_update(of=("self",))
        .select_related("incident", "mention", "claimed_by")
        .get(pk=item.pk)
    )
    if expected_version is not None and current.version != expected_version:
        raise Conflict(_("Someone changed this item meanwhile; here is how it stands now."))
    return current


def _save(item: ResponseItem, fields: list[str]) -> None:
    item.version += 1
    item.save(update_fields=[*fields, "version"])
    live.changed(region="queue", incident_id=item.incident_id)


def item_claim(*, item: ResponseItem, actor: User) -> ResponseItem:
    """Take an open item. One conditional UPDATE decides: the loser sees who won and nothing changes."""
    require_incident_perm(actor, item.incident, Perm.POST)
    with transaction.atomic():
        won = ResponseItem.objects.filter(pk=item.pk, state=ItemState.OPEN).update(
            state=ItemState.CLAIMED, claimed_by=actor, claimed_at=timezone.now(), version=F("version") + 1
        )
        current = ResponseItem.objects.select_related("claimed_by", "incident", "mention").get(pk=item.pk)
        if not won:
            if current.state == ItemState.CLAIMED:
                who = _("you") if current.claimed_by_id == actor.pk else str(current.claimed_by)
                raise Conflict(_("Already claimed by %(who)s.") % {"who": who})
            raise Conflict(
                _("This mention is already %(state)s.") % {"state": current.get_state_display().lower()}
            )
        live.changed(region="queue", incident_id=current.incident_id)
    return current


@transaction.atomic
def item_release(*, item: ResponseItem, actor: User, expected_version: int | None = None) -> ResponseItem:
    current = _locked(item, expected_version)
    if current.state != ItemState.CLAIMED:
        raise Conflict(_("Nobody holds this item."))
    if current.claimed_by_id != actor.pk:
        require_incident_perm(actor, current.incident, Perm.CHANGE_STATUS)  # leads may free a stuck item
    else:
        require_incident_perm(actor, current.incident, Perm.POST)
    current.state, current.claimed_by, current.claimed_at = ItemState.OPEN, None, None
    _save(current, ["state", "claimed_by", "claimed_at"])
    return current


def reply_choices(incident: Incident) -> tuple[list[ReplyTemplate], list[StatementVersion]]:
    """What a reply may be built from: active templates, and the current version of each approved or
    published statement of the incident (its exact, approved text)."""
    templates = list(ReplyTemplate.objects.filter(is_active=True))
    versions = list(
        StatementVersion.objects.filter(
            statement__incident=incident,
            statement__status__in=(StatementStatus.APPROVED, StatementStatus.PUBLISHED),
            number=F("statement__version"),
        )
        .select_related("statement")
        .order_by("-statement__created_at")
    )
    return templates, versions


@transaction.atomic
def item_reply(
    *,
    item: ResponseItem,
    actor: User,
    text: str,
    posted_url: str,
    expected_version: int | None = None,
    template: ReplyTemplate | None = None,
    statement_version: StatementVersion | None = None,
) -> ResponseItem:
    """Record the answer and where it went public; an approved statement is used word for word."""
    current = _locked(item, expected_version)
    require_incident_perm(actor, current.incident, Perm.POST)
    if current.state in (ItemState.REPLIED, ItemState.CLOSED):
        raise Conflict(
            _("This mention is already %(state)s.") % {"state": current.get_state_display().lower()}
        )
    if current.state == ItemState.CLAIMED and current.claimed_by_id != actor.pk:
        raise Conflict(_("%(who)s is answering this one.") % {"who": current.claimed_by})
    if statement_version is not None:
        if (
            statement_version.statement.incident_id != current.incident_id
            or statement_version.statement.status
            not in (
                StatementStatus.APPROVED,
                StatementStatus.PUBLISHED,
            )
        ):
            raise ListeningError(_("Only an approved statement of this incident can be used as a reply."))
        if text_sha256(statement_version.body) != statement_version.sha256:
            raise ListeningError(
                _("That statement's text does not match what was approved; it cannot be used.")
            )
        text = statement_version.body  # exactly what was approved
    text = text.strip()
    if not text:
        raise ListeningError(_("Write the reply (or choose a template or an approved statement)."))
    if len(text) > MAX_REPLY:
        raise ListeningError(_("Keep a reply under %(n)d characters.") % {"n": MAX_REPLY})
    try:
        url = parse_url(posted_url)
    except FieldProblem as exc:
        raise ListeningError(str(exc)) from None
    if not url:
        raise ListeningError(_("Paste the link to the reply where it was posted."))
    now = timezone.now()
    current.state = ItemState.REPLIED
    current.replied_by, current.replied_at, current.reply_text, current.reply_url = actor, now, text, url
    current.reply_template, current.reply_version = template, statement_version
    if current.claimed_by_id is None:
        current.claimed_by, current.claimed_at = actor, now
    _save(
        current,
        [
            "state",
            "replied_by",
            "replied_at",
            "reply_text",
            "reply_url",
            "reply_template",
            "reply_version",
            "claimed_by",
            "claimed_at",
        ],
    )
    _finish_deadline(current, actor, done=True)
    mention = current.mention
    with organisation_language():  # stored once, read by the whole team
        what = (
            _("approved statement “%(title)s” v%(n)d")
            % {"title": statement_version.statement.title, "n": statement_version.number}
            if statement_version is not None
            else (
                _("template “%(name)s”") % {"name": template.name} if template is not None else _("own words")
            )
        )
        timeline_append(
            incident=current.incident,
            kind=TimelineEntry.Kind.ACTION,
            author=actor,
            body=_("Replied to %(author)s (reach %(reach)s) with %(what)s: “%(text)s”\nPosted at %(url)s")
            % {
                "author": mention.author_handle or "?",
                "reach": f"{current.reach:,}",
                "what": what,
                "text": text[:1000],
                "url": url,
            },
        )
    return current


@transaction.atomic
def item_close(
    *, item: ResponseItem, actor: User, reason: str, note: str = "", expected_version: int | None = None
) -> ResponseItem:
    """No answer needed (with a reason). Spam and abuse are also hidden — the two reasons one person may
    hide a mention for on their own (moderation.py)."""
    current = _locked(item, expected_version)
    require_incident_perm(actor, current.incident, Perm.POST)
    if reason not in CloseReason.values:
        raise ListeningError(_("Choose why it needs no answer: no action, spam or abuse."))
    if not current.is_open:
        raise Conflict(
            _("This mention is already %(state)s.") % {"state": current.get_state_display().lower()}
        )
    if current.state == ItemState.CLAIMED and current.claimed_by_id != actor.pk:
        raise Conflict(_("%(who)s is answering this one.") % {"who": current.claimed_by})
    current.state, current.close_reason, current.close_note = ItemState.CLOSED, reason, note.strip()[:500]
    current.closed_by, current.closed_at = actor, timezone.now()
    _save(current, ["state", "close_reason", "close_note", "closed_by", "closed_at"])
    _finish_deadline(current, actor, done=False)
    if reason in (CloseReason.SPAM, CloseReason.ABUSE):
        from incidents.listening.services.moderation import hide_request

        mention = Mention.objects.get(pk=current.mention_id)
        if not mention.is_hidden:
            hide_request(
                mention=mention,
                actor=actor,
                reason_kind=HideReason.SPAM if reason == CloseReason.SPAM else HideReason.ABUSE,
                reason=note.strip() or str(CloseReason(reason).label),
            )
    return current


def _finish_deadline(item: ResponseItem, actor: User, *, done: bool) -> None:
    """The author's reply deadline is met by a reply; closing their last open item without one ends it."""
    if item.deadline_id is None:
        return
    others = ResponseItem.objects.filter(deadline_id=item.deadline_id, state__in=ResponseItem.OPEN_STATES)
    if not done and others.exclude(pk=item.pk).exists():
        return  # they still wait for an answer on another post
    deadline = item.deadline
    if deadline is None or deadline.state != DeadlineState.OPEN:
        return
    if done:
        deadline_met(deadline=deadline, actor=actor, record=False)  # the reply's own entry says it
    else:
        deadline_void(deadline=deadline, actor=actor)


@transaction.atomic
def item_add(*, mention: Mention, actor: User) -> ResponseItem:
    """Put an incident mention in the queue by hand (a quiet author who still deserves an answer)."""
    if mention.incident is None:
        raise ListeningError(_("Only an incident's mentions can be queued; link it to the incident first."))
    require_incident_perm(actor, mention.incident, Perm.POST)
    ids = queue_mentions(mention_ids=[mention.pk], actor=actor)
    item = ResponseItem.objects.get(mention=mention)
    if not ids:
        raise Conflict(_("This mention is already in the queue."))
    live.changed(region="queue", incident_id=item.incident_id)
    return item


def queue_counts(incident: Incident) -> dict[str, int]:
    counts = dict.fromkeys(ItemState.values, 0)
    rows = ResponseItem.objects.filter(incident=incident).values("state").annotate(n=Count("pk")).order_by()
    counts.update({row["state"]: row["n"] for row in rows})
    return counts
