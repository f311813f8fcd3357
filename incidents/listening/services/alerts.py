"""Spike alerts: telling people, declaring an incident from one, dismissing one with a reason."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening import live
from incidents.listening.ingest import rollup_rebuild
from incidents.listening.models import AlertKind, AlertState, Mention, MentionPlatform, SpikeAlert, Watch
from incidents.listening.queueing import queue_mentions
from incidents.listening.services import ListeningError, require_manager
from incidents.models import Incident, OrgRole, Scenario, Severity, TimelineEntry, User
from incidents.services import in_language_of, incident_declare, notify, timeline_append, timeline_record
from incidents.services.timeline import organisation_language
from incidents.timetext import stamp

if TYPE_CHECKING:
    from incidents.playbooks.models import PlaybookVersion

# How far back the incident's own watch takes over the organisation watch's mentions when declaring.
LINK_BEFORE = timedelta(hours=1)


def alert_url(alert: SpikeAlert) -> str:
    return reverse("listening:alert", args=[alert.code])


def describe(alert: SpikeAlert) -> str:
    """One line for bells, e-mails and the timeline. The time is a stamp (incidents.timetext): each bell and
    e-mail states it in its recipient's zone, the timeline in its viewer's."""
    share = alert.negative_share
    negative = _(", %(share)d%% negative") % {"share": round(share * 100)} if share is not None else ""
    until = stamp(alert.window_end)
    if alert.kind == AlertKind.NEGATIVE:
        return _(
            "Negative spike on “%(watch)s”: %(negative)d of %(scored)d scored mentions negative in the hour to "
            "%(until)s (usually %(usual)d%%)."
        ) % {
            "watch": alert.watch.name,
            "negative": alert.negative,
            "scored": alert.scored,
            "until": until,
            "usual": round((alert.baseline_share or 0) * 100),
        }
    return _(
        "Spike on “%(watch)s”: %(observed)d mentions in the hour to %(until)s (usually %(usual)s)%(negative)s."
    ) % {
        "watch": alert.watch.name,
        "observed": alert.observed,
        "until": until,
        "usual": f"{alert.expected:.0f}",
        "negative": negative,
    }


def on_duty(watch: Watch) -> list[User]:
    """Who hears about an organisation watch's spike: the active crisis managers and the watch's owner.
    (There is no on-duty roster yet; README lists the hook a roster would plug into.)"""
    people = User.objects.filter(is_active=True).filter(
        Q(org_role=OrgRole.CRISIS_MANAGER) | Q(pk=watch.owner_id)
    )
    return list(people.order_by("pk"))


def deliver_alert(alert: SpikeAlert) -> None:
    """In the alert's own transaction: the bell and e-mail for each recipient (once per alert and person);
    on an incident's own watch, a timeline entry for the team instead of a declaration."""
    with organisation_language():  # the shared timeline entry: the organisation's
        text = describe(alert)
    incident = alert.watch.incident
    if incident is not None:
        alert.state = AlertState.NOTED
        alert.incident = incident
        alert.save(update_fields=["state", "incident"])
        timeline_append(incident=incident, kind=TimelineEntry.Kind.EXTERNAL, author=None, body=text)
        recipients = [u for u in (incident.commander, alert.watch.owner) if u is not None and u.is_active]
        for person in {u.pk: u for u in recipients}.values():
            with in_language_of(person):
                notify(
                    user=person,
                    incident=incident,
                    text=describe(alert),
                    url=incident.room_url,
                    key=f"spike:{alert.pk}",
                )
        return
    for person in on_duty(alert.watch):
        with in_language_of(person):
            notify(
                user=person,
                incident=None,
                text=describe(alert),
                url=alert_url(alert),
                key=f"spike:{alert.pk}",
            )


# --- what a declaration from this spike would say --------------------------------------------------------------

# Words that point at a scenario. A guess shown as a guess: the declarer sees and changes it.
_SCENARIO_WORDS: dict[str, tuple[str, ...]] = {
    Scenario.OUTAGE: (
        "down",
        "outage",
        "not working",
        "error",
        "crash",
        "charged twice",
        "charged me twice",
        "billed twice",
        "billed me twice",
        "checkout",
        "double charge",
        "offline",
        "can't log in",
        "cannot log in",
    ),
    Scenario.DATA_BREACH: ("breach", "leak", "leaked", "hacked", "password", "phishing", "data exposed"),
    Scenario.CONTROVERSIAL_POST: ("ad", "campaign", "insensitive", "offensive", "tone deaf", "boycott"),
    Scenario.COMPLAINT: ("refund", "broken", "defect", "faulty", "customer service", "returned", "worst"),
    Scenario.CONDUCT: ("ceo", "harassment", "remarks", "fired", "misconduct", "racist"),
    Scenario.MISINFORMATION: ("rumour", "rumor", "fake", "hoax", "false", "not true", "misinformation"),
}


def guess_scenario(texts: list[str]) -> tuple[str, list[str]]:
    """The scenario whose words appear in most of these texts, with the words that decided it."""
    scores: Counter[str] = Counter()
    words: dict[str, Counter[str]] = {}
    for text in texts:
        low = text.lower()
        for scenario, terms in _SCENARIO_WORDS.items():
            hit = [t for t in terms if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", low)]
            if hit:
                scores[scenario] += 1
                words.setdefault(scenario, Counter()).update(hit)
    if not scores:
        return Scenario.OTHER, []
    scenario = scores.most_common(1)[0][0]
    return scenario, [w for w, _n in words[scenario].most_common(3)]


def guess_severity(alert: SpikeAlert) -> str:
    ratio = alert.observed / max(alert.expected, 1.0)
    if alert.observed >= 500 or ratio >= 10:
        return Severity.SEV1
    if ratio >= 4:
        return Severity.SEV2
    return Severity.SEV3


@dataclass
class Proposal:
    title: str
    scenario: str
    scenario_words: list[str]
    severity: str
    platforms: list[str]
    summary: str
    mentions: list[Mention] = field(default_factory=list)


def proposal(alert: SpikeAlert) -> Proposal:
    mentions = list(Mention.objects.filter(pk__in=alert.top_mentions).select_related("source"))
    mentions.sort(key=lambda m: alert.top_mentions.index(m.pk))
    scenario, words = guess_scenario([m.text for m in mentions])
    platforms = list(dict.fromkeys(MentionPlatform.incident_platform(m.platform) for m in mentions))
    loudest = mentions[0] if mentions else None
    summary = describe(alert)
    if loudest is not None:
        summary += "\n" + _("Loudest: %(author)s (reach %(reach)s): “%(text)s”") % {
            "author": loudest.author_handle or _("unknown author"),
            "reach": f"{loudest.author_reach:,}" if loudest.author_reach is not None else "?",
            "text": loudest.text[:200],
        }
    return Proposal(
        title=_("Mentions spike: %(watch)s") % {"watch": alert.watch.name},
        scenario=scenario,
        scenario_words=words,
        severity=guess_severity(alert),
        platforms=platforms,
        summary=summary,
        mentions=mentions,
    )


def evidence_text(mention: Mention) -> str:
    reach = f"{mention.author_reach:,}" if mention.author_reach is not None else "?"
    drill = "[DRILL] " if mention.is_drill else ""
    reach_label = _("reach")  # outside the f-string: makemessages does not look inside one
    return (
        f"{drill}{mention.author_handle or '?'} ({reach_label} {reach}) — {mention.get_platform_display()}, "
        f"{stamp(mention.published_at)}, {mention.get_sentiment_display().lower()}:\n"
        f"“{mention.text[:1500]}”" + (f"\n{mention.url}" if mention.url else "")
    )


# --- decisions ------------------------------------------------------------------------------------------------


def _lock_open(alert: SpikeAlert) -> SpikeAlert:
    locked = SpikeAlert.objects.select_for_update(of=("self",)).select_related("watch").get(pk=alert.pk)
    if locked.state == AlertState.DECLARED and locked.incident is not None:
        raise ListeningError(
            _("This spike was already declared as %(ref)s by %(who)s.")
            % {"ref": locked.incident.reference, "who": locked.decided_by}
        )
    if locked.state != AlertState.OPEN:
        raise ListeningError(
            _("This alert is already %(state)s.") % {"state": locked.get_state_display().lower()}
        )
    return locked


@transaction.atomic
def alert_declare(
    *,
    alert: SpikeAlert,
    actor: User,
    title: str,
    scenario: str,
    severity: str,
    summary: str = "",
    platforms: list[str] | None = None,
    attach: list[int] | None = None,
    playbook_version: PlaybookVersion | None = None,
    is_restricted: bool = False,
) -> Incident:
    """Declare an incident from an open spike: the incident gets a watch of its own (the spike's terms), takes
    over the spike's recent mentions (chart and queue start with them), and the chosen mentions go on its
    timeline as evidence. A second click, or a colleague's, finds the alert declared and changes nothing."""
    require_manager(actor)
    locked = _lock_open(alert)
    title = title.strip()
    if not title:
        raise ListeningError(_("Give the incident a title."))
    if scenario not in Scenario.values or severity not in Severity.values:
        raise ListeningError(_("Choose a scenario and a severity."))
    if playbook_version is not None:
        from incidents.playbooks.declaring import TeamPick, declare_from_playbook

        picks = [TeamPick(slot=s, person=s.person, backup=s.backup) for s in playbook_version.roles.all()]
        incident = declare_from_playbook(
            actor=actor,
            version=playbook_version,
            team=picks,
            title=title,
            severity=severity,
            summary=summary,
            affected_platforms=platforms or [],
            detected_at=locked.created_at,
            is_restricted=is_restricted,
        ).incident
    else:
        incident = incident_declare(
            actor=actor,
            title=title,
            scenario=scenario,
            severity=severity,
            summary=summary,
            affected_platforms=platforms or [],
            detected_at=locked.created_at,
            is_restricted=is_restricted,
        )
    source_watch = locked.watch
    own = Watch.objects.create(
        name=_("%(ref)s: %(watch)s") % {"ref": incident.reference, "watch": source_watch.name},
        incident=incident,
        include_terms=list(source_watch.include_terms),
        exclude_terms=list(source_watch.exclude_terms),
        owner=actor,
        created_by=actor,
        min_volume=source_watch.min_volume,
        negative_share=source_watch.negative_share,
    )
    since = locked.window_start - LINK_BEFORE
    linked = list(
        Mention.objects.filter(
            watch_ids__contains=[source_watch.pk], published_at__gte=since, incident_watch__isnull=True
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    Mention.objects.filter(pk__in=linked).update(incident_watch=own, incident=incident)
    rollup_rebuild(watch=own, since=since)
    loud = Mention.objects.filter(pk__in=linked, is_hidden=False).filter(
        Q(author_reach__gte=own.queue_min_reach) | Q(sentiment="negative")
    )
    queue_mentions(mention_ids=list(loud.values_list("id", flat=True)), actor=actor)
    chosen = [m for m in Mention.objects.filter(pk__in=attach or []) if m.pk in locked.top_mentions]
    chosen.sort(key=lambda m: locked.top_mentions.index(m.pk))
    with organisation_language():  # stored once, read by the whole team
        timeline_record(
            incident=incident,
            kind=TimelineEntry.Kind.STATUS,
            actor=actor,
            text=_("Declared from a spike alert. %(what)s") % {"what": describe(locked)},
        )
        for mention in chosen:
            timeline_append(
                incident=incident, kind=TimelineEntry.Kind.EVIDENCE, author=actor, body=evidence_text(mention)
            )
    now = timezone.now()
    siblings = SpikeAlert.objects.select_for_update().filter(watch=source_watch, state=AlertState.OPEN)
    for other in [locked, *siblings.exclude(pk=locked.pk)]:
        other.state, other.incident, other.decided_by, other.decided_at = (
            AlertState.DECLARED,
            incident,
            actor,
            now,
        )
        other.save(update_fields=["state", "incident", "decided_by", "decided_at"])
    # A restricted incident is not announced beyond its team (its existence is need-to-know).
    for person in [] if is_restricted else on_duty(source_watch):
        if person.pk != actor.pk:
            with in_language_of(person):
                notify(
                    user=person,
                    incident=incident,
                    text=_("%(who)s declared %(ref)s from the spike on “%(watch)s”.")
                    % {"who": actor, "ref": incident.reference, "watch": source_watch.name},
                    url=incident.room_url,
                    key=f"spike-declared:{locked.pk}",
                )
    live.changed(region="alerts", watch_ids=[source_watch.pk], alert_id=locked.pk)
    return incident


@transaction.atomic
def alert_dismiss(*, alert: SpikeAlert, actor: User, reason: str) -> SpikeAlert:
    require_manager(actor)
    reason = reason.strip()
    if not reason:
        raise ListeningError(_("Say why this spike needs no incident (e.g. “our own campaign launch”)."))
    locked = _lock_open(alert)
    locked.state, locked.decided_by, locked.decided_at = AlertState.DISMISSED, actor, timezone.now()
    locked.dismiss_reason = reason[:500]
    locked.save(update_fields=["state", "decided_by", "decided_at", "dismiss_reason"])
    live.changed(region="alerts", watch_ids=[locked.watch_id], alert_id=locked.pk)
    return locked
