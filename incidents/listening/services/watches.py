"""Watches and sources: what we listen for and where. Configured by crisis managers (and administrators)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening import kicks, live
from incidents.listening.ingest import rollup_rebuild
from incidents.listening.matching import CompiledWatch
from incidents.listening.models import POLLED_KINDS, Mention, Source, SourceKind, Watch, new_secret
from incidents.listening.queueing import queue_mentions
from incidents.listening.services import ListeningError, require_incident_perm, require_manager
from incidents.models import Incident, Perm, User

MAX_TERMS = 50
# An incident's new watch takes over the organisation watches' mentions of this recent past that match it.
BACKFILL = timedelta(hours=24)
BACKFILL_MAX = 20_000


def parse_terms(raw: str | list[str]) -> list[str]:
    """One term per line or comma; duplicates (ignoring case) and blanks dropped."""
    parts = raw if isinstance(raw, list) else re.split(r"[\n,]", raw)
    terms: dict[str, str] = {}
    for part in parts:
        term = " ".join(part.split())[:100]
        if term:
            terms.setdefault(term.casefold(), term)
    if len(terms) > MAX_TERMS:
        raise ListeningError(_("Keep a watch to %(n)d terms or fewer.") % {"n": MAX_TERMS})
    return list(terms.values())


@dataclass(frozen=True)
class WatchFields:
    name: str
    include_terms: list[str]
    exclude_terms: list[str]
    min_volume: int = 10
    negative_share: float = 0.5
    queue_min_reach: int = 1000
    sla_min_reach: int = 10000


def _check(fields: WatchFields) -> None:
    if not fields.name.strip():
        raise ListeningError(_("Give the watch a name."))
    if not fields.include_terms:
        raise ListeningError(_("Give at least one term to listen for (a brand, product, handle or hashtag)."))
    if not 0 < fields.negative_share <= 1:
        raise ListeningError(_("The negative share that alerts is a fraction between 0 and 1, e.g. 0.5."))


@transaction.atomic
def watch_save(*, actor: User, fields: WatchFields, watch: Watch | None = None) -> Watch:
    """Create or edit an organisation watch. Edits apply to mentions from now on (stored ones keep theirs)."""
    require_manager(actor)
    _check(fields)
    target = (
        Watch(created_by=actor, owner=actor)
        if watch is None
        else Watch.objects.select_for_update().get(pk=watch.pk)
    )
    if target.incident_id:
        raise ListeningError(_("An incident's watch is edited in its room."))
    for name, value in fields.__dict__.items():
        setattr(target, name, value.strip() if isinstance(value, str) else value)
    target.updated_at = timezone.now()
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError:
        raise ListeningError(
            _("There is already a watch called “%(name)s”.") % {"name": fields.name}
        ) from None
    live.changed(region="mentions", watch_ids=[target.pk])
    return target


@transaction.atomic
def watch_retire(*, actor: User, watch: Watch) -> Watch:
    """Stop matching new mentions; its mentions, rollups and alerts stay."""
    locked = Watch.objects.select_for_update().get(pk=watch.pk)
    if locked.incident is not None:
        require_incident_perm(actor, locked.incident, Perm.CHANGE_STATUS)
    else:
        require_manager(actor)
    if not locked.is_active:
        raise ListeningError(_("This watch is already retired."))
    locked.is_active = False
    locked.updated_at = timezone.now()
    locked.save(update_fields=["is_active", "updated_at"])
    return locked


_TAG = re.compile(r"(?<!\w)[#@][\w.]+\w")


def incident_watch_proposal(incident: Incident) -> WatchFields:
    """What the room proposes when an incident has no watch: the hashtags and handles in its title and
    summary, plus the organisation watches' brand terms (the crisis is about us), minus their exclusions."""
    org = list(Watch.objects.filter(is_active=True, incident__isnull=True).order_by("pk"))
    found = _TAG.findall(f"{incident.title}\n{incident.summary}")
    include = parse_terms([*found, *(t for w in org for t in w.include_terms)][:MAX_TERMS])
    exclude = parse_terms([t for w in org for t in w.exclude_terms][:MAX_TERMS])
    return WatchFields(
        name=f"{incident.reference}: {incident.title}"[:120], include_terms=include, exclude_terms=exclude
    )


@transaction.atomic
def incident_watch_start(*, incident: Incident, actor: User, fields: WatchFields) -> Watch:
    """The incident's own watch. It takes over the last day's matching mentions of the organisation watches,
    so the room's chart and queue start with the crisis as it began, not empty."""
    Incident.objects.select_for_update().only("pk").get(pk=incident.pk)
    require_incident_perm(actor, incident, Perm.CHANGE_STATUS)
    _check(fields)
    if Watch.objects.filter(incident=incident, is_active=True).exists():
        raise ListeningError(_("This incident already has a watch."))
    watch = Watch.objects.create(
        incident=incident,
        owner=actor,
        created_by=actor,
        **{k: (v.strip() if isinstance(v, str) else v) for k, v in fields.__dict__.items()},
    )
    since = timezone.now() - BACKFILL
    if not incident.is_drill:
        compiled = CompiledWatch.of(watch)
        # Newest first along listening_mention_newest, which bounds the scan to the last day (a mention is
        # stored after it is published, so this is also the last day's ingest).
        candidates = (
            Mention.objects.filter(published_at__gte=since, incident_watch__isnull=True, is_drill=False)
            .order_by("-published_at", "-id")
            .values_list("id", "text")[:BACKFILL_MAX]
        )
        ids = [pk for pk, text in candidates if compiled.matches(text)]
        Mention.objects.filter(pk__in=ids).update(incident_watch=watch, incident=incident)
        rollup_rebuild(watch=watch, since=since)
        loud = Mention.objects.filter(pk__in=ids, is_hidden=False, author_reach__gte=watch.queue_min_reach)
        negative = Mention.objects.filter(pk__in=ids, is_hidden=False, sentiment="negative")
        queue_mentions(
            mention_ids=sorted({*loud.values_list("id", flat=True), *negative.values_list("id", flat=True)}),
            actor=actor,
        )
    live.changed(region="mentions", incident_id=incident.pk, watch_ids=[watch.pk])
    return watch


# --- sources --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFields:
    name: str
    kind: str
    platform: str
    url: str = ""
    tag: str = ""
    query: str = ""
    access_token: str = ""
    watch: Watch | None = None
    poll_interval_seconds: int = 300


def _check_source(fields: SourceFields) -> None:
    if not fields.name.strip():
        raise ListeningError(_("Give the source a name."))
    if fields.kind not in SourceKind.values or fields.kind == SourceKind.DRILL:
        raise ListeningError(_("Choose what kind of source this is."))
    if fields.kind in POLLED_KINDS:
        parts = urlsplit(fields.url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ListeningError(_("Give the full address, starting with https://."))
        if fields.poll_interval_seconds < 60:
            raise ListeningError(_("Poll at most once a minute."))
    if fields.kind == SourceKind.MASTODON:
        if not fields.tag.strip().lstrip("#") and not fields.query.strip():
            raise ListeningError(_("Give a hashtag to follow, or a search query."))
        if fields.query.strip() and not fields.access_token.strip():
            raise ListeningError(_("Searching a Mastodon server needs an access token (read:search)."))


@transaction.atomic
def source_save(*, actor: User, fields: SourceFields, source: Source | None = None) -> Source:
    require_manager(actor)
    _check_source(fields)
    if source is None:
        target = Source(created_by=actor, owner=actor, kind=fields.kind, next_poll_at=timezone.now())
    else:
        target = Source.objects.select_for_update().get(pk=source.pk)
        if target.kind != fields.kind:
            raise ListeningError(_("A source keeps its kind; add a new source instead."))
    target.name = fields.name.strip()
    target.platform = fields.platform
    target.url = fields.url.strip()
    target.tag = fields.tag.strip().lstrip("#")
    target.query = fields.query.strip()
    if fields.access_token.strip():  # blank on an edit keeps the stored token (it is never shown back)
        target.access_token = fields.access_token.strip()
    target.watch = fields.watch
    target.poll_interval_seconds = fields.poll_interval_seconds
    if source is not None and (
        source.url != target.url or source.tag != target.tag or source.query != target.query
    ):
        target.etag = target.last_modified = target.cursor = ""  # a different feed: start afresh
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError:
        raise ListeningError(
            _("There is already a source called “%(name)s”.") % {"name": fields.name}
        ) from None
    live.changed(region="sources")
    return target


@transaction.atomic
def source_set_active(*, actor: User, source: Source, active: bool) -> Source:
    require_manager(actor)
    locked = Source.objects.select_for_update().get(pk=source.pk)
    locked.is_active = active
    fields = ["is_active"]
    if active:
        locked.consecutive_failures, locked.next_poll_at = 0, timezone.now()
        fields += ["consecutive_failures", "next_poll_at"]
    locked.save(update_fields=fields)
    live.changed(region="sources")
    return locked


@transaction.atomic
def source_rotate_secret(*, actor: User, source: Source) -> Source:
    """A new webhook secret; the old one keeps working for a day so the sender can switch over."""
    require_manager(actor)
    locked = Source.objects.select_for_update().get(pk=source.pk)
    locked.previous_secret, locked.secret, locked.secret_rotated_at = (
        locked.secret,
        new_secret(),
        timezone.now(),
    )
    locked.save(update_fields=["previous_secret", "secret", "secret_rotated_at"])
    return locked


@transaction.atomic
def source_poll_now(*, actor: User, source: Source) -> Source:
    require_manager(actor)
    locked = Source.objects.select_for_update().get(pk=source.pk)
    if not locked.is_polled:
        raise ListeningError(_("Only feeds and Mastodon connectors are polled."))
    locked.next_poll_at = timezone.now()
    locked.save(update_fields=["next_poll_at"])
    transaction.on_commit(lambda: kicks.kick_poll(locked.pk))
    return locked
