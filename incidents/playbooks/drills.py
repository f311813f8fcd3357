"""Running a drill: pausing and resuming its clock.

A drill runs at the speed chosen when it started (`Incident.scaled` applies it to every inject and deadline).
Pausing stops that clock: nothing pending fires while paused — injects (`services.inject_sweep`) and
reminders (`services.reminders`) skip a paused drill — and resuming moves everything still pending (open
deadlines, unposted injects, the SLA of the approval step being decided) on by exactly how long the pause
lasted, so the exercise picks up where it stopped. Both land on the timeline. Real incidents have no pause:
their clock is the world's. May import models, rules, permissions, this app's models and the base app's
deadline and timeline services.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents.models import ChainStep, Incident, Refused, TimelineEntry, User
from incidents.permissions import incident_perms
from incidents.playbooks.models import DrillInject
from incidents.rules import may_run_drill
from incidents.services.deadlines import deadlines_shift
from incidents.services.reminders import in_minutes
from incidents.services.timeline import organisation_language, timeline_record


def _lock(incident: Incident, actor: User) -> Incident:
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    may_run_drill.check(perms=incident_perms(actor, locked))
    if not locked.is_drill:
        raise Refused(_("Only a drill can be paused: a real incident's clock never stops."))
    return locked


@transaction.atomic
def drill_pause(*, incident: Incident, actor: User) -> Incident:
    """Stop the drill's clock: injects, deadlines and reminders wait until it resumes."""
    locked = _lock(incident, actor)
    if not locked.is_open:
        raise Refused(_("The drill has ended; there is nothing to pause."))
    if locked.drill_paused_at is not None:
        raise Refused(_("The drill is already paused."))
    locked.drill_paused_at = timezone.now()
    locked.save(update_fields=["drill_paused_at", "updated_at"])
    with organisation_language():  # stored once, read by everyone
        text = _("%(actor)s paused the drill: injects, deadlines and reminders wait until it resumes.") % {
            "actor": actor
        }
        timeline_record(incident=locked, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    return locked


@transaction.atomic
def drill_resume(*, incident: Incident, actor: User) -> Incident:
    """Start the clock again: everything still pending moves on by the length of the pause."""
    locked = _lock(incident, actor)
    if locked.drill_paused_at is None:
        raise Refused(_("The drill is not paused."))
    now = timezone.now()
    by = now - locked.drill_paused_at
    moved = deadlines_shift(incident=locked, by=by)
    injects = DrillInject.objects.filter(incident=locked, posted_at__isnull=True).update(
        due_at=F("due_at") + by
    )
    # The step being decided keeps its SLA measured in drill time (its backups may stand in only after it).
    ChainStep.objects.filter(
        version__statement__incident=locked,
        activated_at__isnull=False,
        completed_at__isnull=True,
        sla_due_at__isnull=False,
    ).update(sla_due_at=F("sla_due_at") + by)
    locked.drill_paused_at = None
    locked.save(update_fields=["drill_paused_at", "updated_at"])
    with organisation_language():  # stored once, read by everyone
        text = _(
            "%(actor)s resumed the drill after a pause of %(pause)s: %(deadlines)s and %(injects)s still to "
            "come moved on by it."
        ) % {
            "actor": actor,
            "pause": in_minutes(by),
            "deadlines": ngettext("%(n)d open deadline", "%(n)d open deadlines", moved) % {"n": moved},
            "injects": ngettext("%(n)d inject", "%(n)d injects", injects) % {"n": injects},
        }
        timeline_record(incident=locked, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    return locked


def speed_line(incident: Incident) -> str:
    """“×10: 6 minutes here are an hour” — what the drill's header says about its clock ("" at real time)."""
    speed = incident.speed
    if speed == 1:
        return ""
    minutes = 60 // speed  # the speeds offered (5, 10, 30) all divide an hour into whole minutes
    here = ngettext("%(n)d minute here is an hour", "%(n)d minutes here are an hour", minutes) % {
        "n": minutes
    }
    return _("×%(speed)d: %(here)s") % {"speed": speed, "here": here}
