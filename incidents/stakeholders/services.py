"""Changes to the stakeholder register, the contact log and the press queue. Each locks the incident first
(team changes lock it too), then checks the actor may post in the incident (Perm.POST) — the register holds
journalists' and regulators' contact details, so it follows the incident's visibility. Promises with a time
and journalists' deadlines become deadlines (reminded, escalated, in the review). May import models, this
app's models and the base app's deadline and timeline services.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from incidents.models import (
    DeadlineKind,
    Incident,
    InputRefused,
    Perm,
    Refused,
    Statement,
    User,
)
from incidents.permissions import incident_perms
from incidents.services.deadlines import deadline_create, deadline_met
from incidents.services.reminders import record_entry
from incidents.services.statements.rules import require
from incidents.services.timeline import organisation_language
from incidents.stakeholders.models import (
    FROM_PLAYBOOK,
    ContactChannel,
    ContactEntry,
    Direction,
    EnquiryState,
    PressEnquiry,
    Stakeholder,
    StakeholderKind,
)
from incidents.timetext import stamp


def _lock(incident: Incident, actor: User) -> Incident:
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    require(incident_perms(actor, locked), Perm.POST)
    return locked


# What each text is called in a refusal; lazy, so it is said in the language of whoever is refused.
_NAME = gettext_lazy("a name")
_ORGANISATION = gettext_lazy("the organisation")
_PHONE = gettext_lazy("the phone number")
_NOTES = gettext_lazy("the notes")
_PROMISE = gettext_lazy("the promise")
_SAID = gettext_lazy("what was said")
_QUESTION = gettext_lazy("the question")


def _text(value: str, what: str | Promise, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InputRefused(_("Give %(what)s.") % {"what": what})
    if len(value) > limit:
        raise InputRefused(
            _("Keep %(what)s under %(limit)s characters.") % {"what": what, "limit": f"{limit:,}"}
        )
    return value


def seed_from_contacts(
    *, incident: Incident, contacts: list[dict[str, object]], actor: User | None = None
) -> int:
    """The playbook's key contacts join the register (once each: a second call adds nothing)."""
    rows = [
        Stakeholder(
            incident=incident,
            kind=FROM_PLAYBOOK.get(str(c["kind"]), StakeholderKind.OTHER),
            name=str(c["name"]),
            organisation=str(c.get("organisation", "")),
            email=str(c.get("email", "")),
            phone=str(c.get("phone", "")),
            preferred_channel=ContactChannel.PHONE
            if c.get("phone") and not c.get("email")
            else ContactChannel.EMAIL,
            notes=str(c.get("notes", ""))[:300],
            source_contact_id=int(str(c["id"])),
            created_by=actor,
        )
        for c in contacts
    ]
    return len(Stakeholder.objects.bulk_create(rows, ignore_conflicts=True))


@transaction.atomic
def stakeholder_add(
    *,
    incident: Incident,
    actor: User,
    kind: str,
    name: str,
    organisation: str = "",
    email: str = "",
    phone: str = "",
    preferred_channel: str = ContactChannel.EMAIL,
    owner: User | None = None,
    notes: str = "",
) -> Stakeholder:
    locked = _lock(incident, actor)
    if kind not in StakeholderKind.values:
        raise InputRefused(_("Choose what kind of stakeholder this is."))
    return Stakeholder.objects.create(
        incident=locked,
        kind=kind,
        name=_text(name, _NAME, 120),
        organisation=_text(organisation, _ORGANISATION, 120, required=False),
        email=email.strip(),
        phone=_text(phone, _PHONE, 40, required=False),
        preferred_channel=preferred_channel,
        owner=owner,
        notes=_text(notes, _NOTES, 300, required=False),
        created_by=actor,
    )


def _check_statement(incident: Incident, statement: Statement | None) -> None:
    if statement is None:
        return
    if statement.incident_id != incident.pk:
        raise InputRefused(_("That statement belongs to another incident."))
    if not (statement.is_approved or statement.is_published):
        raise InputRefused(_("Only an approved or published statement can be recorded as sent."))


@transaction.atomic
def contact_log(
    *,
    incident: Incident,
    actor: User,
    stakeholder: Stakeholder,
    channel: str,
    summary: str,
    direction: str = Direction.OUT,
    happened_at: datetime | None = None,
    statement: Statement | None = None,
    promise: str = "",
    promise_due_at: datetime | None = None,
) -> ContactEntry:
    """Record a conversation. A promise with a time becomes a deadline for the relationship's owner (or
    whoever logged it), so it is reminded like any other."""
    locked = _lock(incident, actor)
    if stakeholder.incident_id != locked.pk:
        raise InputRefused(_("That person is not in this incident's register."))
    now = timezone.now()
    happened_at = happened_at or now
    if happened_at > now + timedelta(minutes=1):
        raise InputRefused(_("Log a conversation once it has happened."))
    _check_statement(locked, statement)
    promise = _text(promise, _PROMISE, 300, required=False)
    if promise_due_at is not None and not promise:
        raise InputRefused(_("Say what was promised by that time."))
    if promise_due_at is not None and promise_due_at <= now:
        raise InputRefused(_("A promise is due in the future."))
    entry = ContactEntry.objects.create(
        incident=locked,
        stakeholder=stakeholder,
        direction=direction if direction in Direction.values else Direction.OUT,
        channel=channel if channel in ContactChannel.values else ContactChannel.OTHER,
        happened_at=happened_at,
        by=actor,
        summary=_text(summary, _SAID, 4000),
        statement=statement,
        promise=promise,
        promise_due_at=promise_due_at,
    )
    if promise_due_at is not None:
        with organisation_language():  # a deadline's title is read by the whole team
            promised = _("Promised %(who)s: %(what)s") % {"who": stakeholder, "what": promise}
        entry.deadline = deadline_create(
            incident=locked,
            kind=DeadlineKind.TASK,
            key=f"promise:{entry.pk}",
            title=promised[:200],
            due_at=promise_due_at,
            owner=stakeholder.owner or actor,
            actor=actor,
        )
        entry.save(update_fields=["deadline"])
    return entry


@transaction.atomic
def enquiry_add(
    *,
    incident: Incident,
    actor: User,
    journalist: Stakeholder,
    question: str,
    due_at: datetime,
    owner: User | None = None,
) -> PressEnquiry:
    """A press enquiry joins the queue; the journalist's deadline is the incident's deadline too."""
    locked = _lock(incident, actor)
    if journalist.incident_id != locked.pk:
        raise InputRefused(_("That journalist is not in this incident's register."))
    if due_at <= timezone.now():
        raise InputRefused(_("The journalist's deadline must be in the future."))
    who = owner or journalist.owner or actor
    with organisation_language():  # the deadline's title and the entry are read by the whole team
        title = _("Answer %(journalist)s — press enquiry") % {"journalist": journalist}
        logged = _("%(who)s logged a press enquiry from %(journalist)s: answer due %(due)s (%(owner)s).") % {
            "who": actor,
            "journalist": journalist,
            "due": stamp(due_at),
            "owner": who,
        }
    deadline = deadline_create(
        incident=locked,
        kind=DeadlineKind.TASK,
        title=title[:200],
        due_at=due_at,
        owner=who,
        actor=actor,
        notes=question[:1000],
    )
    enquiry = PressEnquiry.objects.create(
        incident=locked,
        journalist=journalist,
        question=_text(question, _QUESTION, 4000),
        due_at=due_at,
        owner=who,
        deadline=deadline,
        created_by=actor,
    )
    # Through the deadlines' own entry, so every open room's deadline panel shows it at once.
    record_entry(deadline, actor, logged)
    return enquiry


@transaction.atomic
def enquiry_close(
    *,
    enquiry: PressEnquiry,
    actor: User,
    summary: str,
    declined: bool = False,
    statement: Statement | None = None,
) -> PressEnquiry:
    """Answered (or declined to comment): logged as a conversation with the journalist; the deadline is met."""
    locked = _lock(enquiry.incident, actor)
    current = (
        PressEnquiry.objects.select_for_update().select_related("journalist", "deadline").get(pk=enquiry.pk)
    )
    if not current.is_open:
        raise Refused(
            _("This enquiry is already %(state)s.") % {"state": current.get_state_display().lower()}
        )
    entry = contact_log(
        incident=locked,
        actor=actor,
        stakeholder=current.journalist,
        channel=current.journalist.preferred_channel,
        summary=summary,
        statement=statement,
    )
    current.state = EnquiryState.DECLINED if declined else EnquiryState.ANSWERED
    current.answer = entry
    current.save(update_fields=["state", "answer"])
    if current.deadline.is_open:
        deadline_met(deadline=current.deadline, actor=actor)
    return current
