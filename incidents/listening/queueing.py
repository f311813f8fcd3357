"""Mentions entering an incident's response queue, and the reply deadlines of loud authors.

Ingest, moderation and the queue's own services all put mentions in the queue; this module depends on none
of them, so each can use it without an import circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening.models import ResponseItem, Watch
from incidents.models import DeadlineKind, User
from incidents.services.deadlines import deadline_create

DEFAULT_SLA_MIN_REACH = 10_000
_QUEUE_SQL = """
INSERT INTO listening_responseitem (mention_id, incident_id, state, reach, version, created_at, added_by_id)
SELECT m.id, m.incident_id, 'open', coalesce(m.author_reach, 0), 1, %s, %s
FROM listening_mention m
WHERE m.id = ANY(%s) AND m.incident_id IS NOT NULL AND NOT m.is_hidden
ORDER BY m.id
ON CONFLICT (mention_id) DO NOTHING
RETURNING id
"""


def queue_mentions(
    *, mention_ids: Sequence[int], actor: User | None = None, now: datetime | None = None
) -> list[int]:
    """Put these incident mentions in their incident's queue (those already there stay as they are)."""
    if not mention_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_QUEUE_SQL, [now or timezone.now(), actor.pk if actor else None, list(mention_ids)])
        ids = [row[0] for row in cursor.fetchall()]
    plan_reply_deadlines(item_ids=ids)
    return ids


def reply_sla(severity: str) -> timedelta:
    minutes = settings.LISTENING_REPLY_SLA_MINUTES.get(severity, 60)
    return timedelta(minutes=minutes)


def plan_reply_deadlines(*, item_ids: Sequence[int]) -> None:
    """A reply deadline for each loud author (the incident watch's threshold) with new items, due by the
    severity's reply SLA (LISTENING_REPLY_SLA_MINUTES), reminded and escalated like every deadline. One per
    author while open: a loud account posting twenty times is one thing to answer, not twenty deadlines."""
    if not item_ids:
        return
    items = list(
        ResponseItem.objects.filter(pk__in=item_ids, deadline__isnull=True)
        .select_related("incident", "mention", "mention__incident_watch")
        .order_by("-reach", "pk")  # the loudest post of an author names their deadline
    )
    thresholds = dict(
        Watch.objects.filter(incident_id__in={i.incident_id for i in items}, is_active=True).values_list(
            "incident_id", "sla_min_reach"
        )
    )
    now = timezone.now()
    for item in items:
        watch = item.mention.incident_watch
        threshold = watch.sla_min_reach if watch else thresholds.get(item.incident_id, DEFAULT_SLA_MIN_REACH)
        if item.reach < threshold or not item.incident.is_open:
            continue
        mention = item.mention
        item.deadline = deadline_create(
            incident=item.incident,
            kind=DeadlineKind.TASK,
            title=_("Reply to %(author)s (reach %(reach)s)")
            % {"author": mention.author_handle or _("a loud author"), "reach": f"{item.reach:,}"},
            due_at=now + reply_sla(item.incident.severity),
            notes=mention.url or mention.text[:300],
            key=f"mention-reply:{(mention.author_handle or f'mention {mention.pk}').casefold()[:60]}",
        )
        item.save(update_fields=["deadline"])
