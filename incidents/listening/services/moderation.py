"""Don't delete criticism: hiding is a recorded state, and hiding a critic takes two people.

There is no delete anywhere (a database trigger refuses DELETE on mentions and on this record). Hiding
always needs a reason. Spam and abuse, and mentions scored positive or neutral, are hidden at once by the
person who asks. Anything else — a negative mention, or one nobody has scored yet (it may be negative) —
waits for a second person with a lead role (the incident's commander or deputy; a crisis manager for
organisation-wide mentions), and the request, the decision and the showing-again of an incident's mention
land on its timeline.

Tagging sentiment by hand is here too: one click, recorded with who did it, and the rollups move with it.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening import live
from incidents.listening.ingest import RollupShift
from incidents.listening.models import (
    SCORED,
    HideReason,
    HideState,
    Mention,
    MentionHide,
    ScoredBy,
    Sentiment,
)
from incidents.listening.queueing import queue_mentions
from incidents.listening.services import Conflict, ListeningError, require_for_mention
from incidents.models import Perm, TimelineEntry, User
from incidents.services import timeline_append
from incidents.services.timeline import organisation_language

_SCORE_OF_LABEL: dict[str, float] = {
    Sentiment.NEGATIVE: -1.0,
    Sentiment.NEUTRAL: 0.0,
    Sentiment.POSITIVE: 1.0,
}
ONE_PERSON_REASONS = (HideReason.SPAM, HideReason.ABUSE)


def needs_second_person(mention: Mention, reason_kind: str) -> bool:
    return reason_kind not in ONE_PERSON_REASONS and mention.sentiment not in (
        Sentiment.POSITIVE,
        Sentiment.NEUTRAL,
    )


def _lock(mention: Mention) -> Mention:
    return Mention.objects.select_for_update(of=("self",)).select_related("incident").get(pk=mention.pk)


def _who(mention: Mention) -> str:
    return mention.author_handle or _("an unknown author")


def _record(mention: Mention, actor: User, text: str) -> TimelineEntry | None:
    if mention.incident is None:
        return None
    quote = mention.text[:300] + ("…" if len(mention.text) > 300 else "")
    return timeline_append(
        incident=mention.incident,
        kind=TimelineEntry.Kind.ACTION,
        author=actor,
        body=f"{text}\n“{quote}”" + (f"\n{mention.url}" if mention.url else ""),
    )


@transaction.atomic
def hide_request(*, mention: Mention, actor: User, reason_kind: str, reason: str) -> MentionHide:
    """Hide at once where one person may; otherwise ask for a second person (nothing is hidden yet)."""
    locked = _lock(mention)
    require_for_mention(actor, locked.incident)
    reason = reason.strip()
    if reason_kind not in HideReason.values:
        raise ListeningError(_("Choose why it should be hidden."))
    if not reason:
        raise ListeningError(_("Say why it should be hidden; the reason is kept with the mention."))
    if locked.is_hidden:
        raise Conflict(_("This mention is already hidden."))
    if MentionHide.objects.filter(mention=locked, state=HideState.PENDING).exists():
        raise Conflict(_("Someone has already asked to hide this mention; a second person decides."))
    second = needs_second_person(locked, reason_kind)
    hide = MentionHide(
        mention=locked,
        hide=True,
        reason_kind=reason_kind,
        reason=reason[:500],
        state=HideState.PENDING if second else HideState.DONE,
        requested_by=actor,
        incident=locked.incident,
    )
    with organisation_language():  # the entries are stored once, read by the whole team
        label = HideReason(reason_kind).label
        if second:
            hide.entry = _record(
                locked,
                actor,
                _(
                    "%(who)s asked to hide a critical mention by %(author)s (%(label)s: %(reason)s). It stays visible "
                    "until a second person agrees."
                )
                % {"who": actor, "author": _who(locked), "label": label, "reason": reason},
            )
        else:
            hide.decided_by, hide.decided_at = actor, timezone.now()
            locked.is_hidden = True
            locked.save(update_fields=["is_hidden"])
            if locked.sentiment == Sentiment.NEGATIVE:  # a critic hidden as spam or abuse: on the record
                hide.entry = _record(
                    locked,
                    actor,
                    _("%(who)s hid a mention by %(author)s as %(label)s: %(reason)s")
                    % {"who": actor, "author": _who(locked), "label": label.lower(), "reason": reason},
                )
    hide.save()
    live.changed(region="mentions", incident_id=locked.incident_id, watch_ids=_watches(locked))
    return hide


@transaction.atomic
def hide_decide(*, hide: MentionHide, actor: User, approve: bool, note: str = "") -> MentionHide:
    """The second person's decision on a pending hide. The one who asked cannot be the one who agrees."""
    locked_hide = MentionHide.objects.select_for_update().get(pk=hide.pk)
    mention = _lock(locked_hide.mention)
    if locked_hide.state != HideState.PENDING:
        raise Conflict(_("This request was already decided."))
    if locked_hide.requested_by_id == actor.pk:
        raise ListeningError(_("A second person must agree; you asked for this one."))
    require_for_mention(actor, mention.incident, Perm.CHANGE_STATUS)
    locked_hide.decided_by, locked_hide.decided_at = actor, timezone.now()
    why = f" — {note.strip()}" if note.strip() else ""
    with organisation_language():
        if approve:
            locked_hide.state = HideState.DONE
            mention.is_hidden = True
            mention.save(update_fields=["is_hidden"])
            text = _(
                "%(who)s agreed to hide the mention by %(author)s that %(asker)s asked to hide (%(reason)s)%(why)s"
            )
        else:
            locked_hide.state = HideState.REFUSED
            text = _(
                "%(who)s refused to hide the mention by %(author)s that %(asker)s asked to hide (%(reason)s)%(why)s"
            )
        locked_hide.save(update_fields=["state", "decided_by", "decided_at"])
        _record(
            mention,
            actor,
            text
            % {
                "who": actor,
                "author": _who(mention),
                "asker": locked_hide.requested_by,
                "reason": locked_hide.reason,
                "why": why,
            },
        )
    live.changed(region="mentions", incident_id=mention.incident_id, watch_ids=_watches(mention))
    return locked_hide


@transaction.atomic
def unhide(*, mention: Mention, actor: User, reason: str) -> MentionHide:
    locked = _lock(mention)
    require_for_mention(actor, locked.incident)
    if not locked.is_hidden:
        raise Conflict(_("This mention is not hidden."))
    reason = reason.strip()
    if not reason:
        raise ListeningError(_("Say why it should be shown again."))
    locked.is_hidden = False
    locked.save(update_fields=["is_hidden"])
    now = timezone.now()
    with organisation_language():
        entry = _record(
            locked,
            actor,
            _("%(who)s showed the mention by %(author)s again: %(reason)s")
            % {"who": actor, "author": _who(locked), "reason": reason},
        )
    shown = MentionHide.objects.create(
        mention=locked,
        hide=False,
        reason_kind=HideReason.OTHER,
        reason=reason[:500],
        state=HideState.DONE,
        requested_by=actor,
        decided_by=actor,
        decided_at=now,
        incident=locked.incident,
        entry=entry,
    )
    live.changed(region="mentions", incident_id=locked.incident_id, watch_ids=_watches(locked))
    return shown


def _watches(mention: Mention) -> list[int]:
    return [w for w in (*mention.watch_ids, mention.incident_watch_id) if w]


@transaction.atomic
def sentiment_tag(*, mention: Mention, actor: User, label: str) -> Mention:
    """A person's label (one click). The rollups move from the old label to the new in the same transaction;
    a negative incident mention joins the queue."""
    if label not in SCORED:
        raise ListeningError(_("Choose negative, neutral or positive."))
    locked = _lock(mention)
    require_for_mention(actor, locked.incident)
    if locked.sentiment == label and locked.sentiment_by == ScoredBy.PERSON:
        return locked
    shift = RollupShift()
    shift.move(
        watch_ids=_watches(locked),
        published_at=locked.published_at,
        old=(locked.sentiment, locked.sentiment_by),
        new=(label, ScoredBy.PERSON),
    )
    locked.sentiment, locked.sentiment_by, locked.sentiment_set_by = label, ScoredBy.PERSON, actor
    locked.sentiment_score = _SCORE_OF_LABEL[label]
    locked.save(update_fields=["sentiment", "sentiment_by", "sentiment_set_by", "sentiment_score"])
    with connection.cursor() as cursor:
        shift.apply(cursor, timezone.now())
    if label == Sentiment.NEGATIVE and locked.incident_id and not locked.is_hidden:
        queue_mentions(mention_ids=[locked.pk], actor=actor)
    live.changed(region="mentions", incident_id=locked.incident_id, watch_ids=_watches(locked))
    return locked
