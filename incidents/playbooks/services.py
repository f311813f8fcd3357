"""Playbook changes, declaring from a playbook, drill injects and review reminders.

Every multi-row change is one keyword-only function here, called alike by views, tasks, seeds and demo.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from incidents.models import (
    ApprovalChainTemplate,
    Audience,
    Channel,
    DeadlineKind,
    Incident,
    IncidentRole,
    RoleAssignment,
    StatementTemplate,
    TimelineEntry,
    User,
)
from incidents.models.errors import InputRefused
from incidents.models.statements import canonical_text
from incidents.playbooks.models import (
    REVIEW_INTERVAL,
    DrillInject,
    IncidentPlaybook,
    InjectKind,
    Playbook,
    PlaybookContact,
    PlaybookInject,
    PlaybookRole,
    PlaybookTask,
    PlaybookTemplate,
    PlaybookVersion,
    offset_label,
)
from incidents.services.deadlines import deadline_create
from incidents.services.lifecycle import incident_declare
from incidents.services.notify import notify
from incidents.services.statements import word_diff
from incidents.services.team import TeamError, team_add_member
from incidents.services.timeline import timeline_append, timeline_record


class PlaybookError(InputRefused):
    """A refused playbook change; the message is shown to the user as is. Nothing was changed."""


class StaleVersion(PlaybookError):
    """Someone saved a newer version since the editor was opened; nothing was written."""

    status: ClassVar[int] = 409

    def __init__(self, message: str, *, current: Playbook) -> None:
        super().__init__(message)
        self.current = current


# --- what a version holds, independent of rows ------------------------------------------------------------


@dataclass(frozen=True)
class RoleSpec:
    role: IncidentRole
    person: User | None = None
    backup: User | None = None


@dataclass(frozen=True)
class TaskSpec:
    title: str
    offset_minutes: int
    role: IncidentRole | None = None
    notes: str = ""


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    channel: str
    audience: str
    title: str
    body: str
    guidance: str = ""
    language: str = "en"


@dataclass(frozen=True)
class ContactSpec:
    kind: str
    name: str
    organisation: str = ""
    phone: str = ""
    email: str = ""
    notes: str = ""


@dataclass(frozen=True)
class InjectSpec:
    offset_seconds: int
    kind: str
    text: str


@dataclass(frozen=True)
class Content:
    description: str
    default_severity: str
    title_hint: str = ""
    risk_notes: str = ""
    default_restricted: bool = False
    platforms: tuple[str, ...] = ()
    approval_chain: ApprovalChainTemplate | None = None
    bridge_line: str = ""
    chat_channel: str = ""
    press_inbox: str = ""
    other_channels: str = ""
    change_note: str = ""
    roles: tuple[RoleSpec, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()
    templates: tuple[TemplateSpec, ...] = ()
    contacts: tuple[ContactSpec, ...] = ()
    injects: tuple[InjectSpec, ...] = ()

    # Fields copied one to one onto PlaybookVersion.
    SCALARS = (
        "title_hint",
        "description",
        "risk_notes",
        "default_severity",
        "default_restricted",
        "approval_chain",
        "bridge_line",
        "chat_channel",
        "press_inbox",
        "other_channels",
        "change_note",
    )


def content_of(version: PlaybookVersion) -> Content:
    """A version's content as plain values (the editor's initial data, duplicates, comparisons)."""
    return Content(
        **{name: getattr(version, name) for name in Content.SCALARS},
        platforms=tuple(version.platforms),
        roles=tuple(
            RoleSpec(role=r.role, person=r.person, backup=r.backup)
            for r in version.roles.select_related("role", "person", "backup")
        ),
        tasks=tuple(
            TaskSpec(title=t.title, offset_minutes=t.offset_minutes, role=t.role, notes=t.notes)
            for t in version.tasks.select_related("role")
        ),
        templates=tuple(
            TemplateSpec(
                name=_short_name(version.playbook, t.template),
                channel=t.template.channel,
                audience=t.template.audience,
                title=t.template.title,
                body=t.template.body,
                guidance=t.template.guidance,
                language=t.template.language,
            )
            for t in version.templates.select_related("template")
        ),
        contacts=tuple(
            ContactSpec(
                kind=c.kind,
                name=c.name,
                organisation=c.organisation,
                phone=c.phone,
                email=c.email,
                notes=c.notes,
            )
            for c in version.contacts.all()
        ),
        injects=tuple(
            InjectSpec(offset_seconds=i.offset_seconds, kind=i.kind, text=i.text)
            for i in version.injects.all()
        ),
    )


def _short_name(playbook: Playbook, template: StatementTemplate) -> str:
    """A playbook template's own name, without the "<playbook>: " prefix that keeps template names unique."""
    return re.sub(r" \([0-9a-f]{6}\)$", "", template.name.split(": ", 1)[-1])


def _template_for(
    playbook: Playbook, spec: TemplateSpec, reusable: dict[tuple[Any, ...], StatementTemplate]
) -> StatementTemplate:
    """The StatementTemplate row for one of the version's templates: reused when its text is unchanged,
    otherwise a new row (copy on write), so incidents declared earlier keep the wording they were offered."""
    body = canonical_text(spec.body)
    label = spec.name.strip() or f"{Channel(spec.channel).label} · {Audience(spec.audience).label}"
    key = (label, spec.channel, spec.audience, spec.language, spec.title.strip(), body, spec.guidance.strip())
    found = reusable.get(key)
    if found is not None:
        return found
    name = f"{playbook.name}: {label}"[:110]
    if StatementTemplate.objects.filter(name=name).exists():
        name = f"{name} ({uuid.uuid4().hex[:6]})"
    template = StatementTemplate(
        name=name,
        scenario=playbook.scenario,
        channel=spec.channel,
        audience=spec.audience,
        language=spec.language,
        title=spec.title.strip(),
        body=body,
        guidance=spec.guidance.strip()[:300],
    )
    template.full_clean()  # unknown placeholders, channel limits: the editor checked, the seeds must too
    template.save()
    reusable[key] = template
    return template


def _write_version(playbook: Playbook, number: int, actor: User | None, content: Content) -> PlaybookVersion:
    version = PlaybookVersion.objects.create(
        playbook=playbook,
        number=number,
        platforms=list(dict.fromkeys(content.platforms)),
        created_by=actor,
        **{name: getattr(content, name) for name in Content.SCALARS},
    )
    PlaybookRole.objects.bulk_create(
        PlaybookRole(version=version, order=i, role=r.role, person=r.person, backup=r.backup)
        for i, r in enumerate(content.roles)
    )
    PlaybookTask.objects.bulk_create(
        PlaybookTask(
            version=version,
            order=i,
            title=t.title.strip(),
            offset_minutes=t.offset_minutes,
            role=t.role,
            notes=t.notes.strip(),
        )
        for i, t in enumerate(content.tasks)
    )
    reusable: dict[tuple[Any, ...], StatementTemplate] = {}
    previous = PlaybookTemplate.objects.filter(
        version__playbook=playbook, version__number=number - 1
    ).select_related("template")
    for link in previous:
        t = link.template
        reusable[
            (_short_name(playbook, t), t.channel, t.audience, t.language, t.title, t.body, t.guidance)
        ] = t
    PlaybookTemplate.objects.bulk_create(
        PlaybookTemplate(version=version, order=i, template=_template_for(playbook, spec, reusable))
        for i, spec in enumerate(content.templates)
    )
    PlaybookContact.objects.bulk_create(
        PlaybookContact(
            version=version,
            order=i,
            kind=c.kind,
            name=c.name.strip(),
            organisation=c.organisation.strip(),
            phone=c.phone.strip(),
            email=c.email.strip(),
            notes=c.notes.strip(),
        )
        for i, c in enumerate(content.contacts)
    )
    PlaybookInject.objects.bulk_create(
        PlaybookInject(
            version=version, order=i, offset_seconds=x.offset_seconds, kind=x.kind, text=x.text.strip()
        )
        for i, x in enumerate(content.injects)
    )
    return version


def _check_name(name: str, *, exclude: Playbook | None = None) -> str:
    name = name.strip()
    if not name:
        raise PlaybookError("Give the playbook a name.")
    clash = Playbook.objects.filter(name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise PlaybookError(f"There is already a playbook called “{name}”.")
    return name


@transaction.atomic
def playbook_create(
    *, actor: User | None, name: str, scenario: str, owner: User | None, content: Content
) -> Playbook:
    playbook = Playbook.objects.create(
        name=_check_name(name), scenario=scenario, owner=owner, latest_number=1
    )
    _write_version(playbook, 1, actor, content)
    return playbook


@transaction.atomic
def playbook_save_version(
    *,
    playbook: Playbook,
    actor: User,
    base_number: int,
    content: Content,
    name: str | None = None,
    owner: User | None = None,
    scenario: str | None = None,
) -> PlaybookVersion:
    """Write the next version, if `base_number` is still the newest; otherwise StaleVersion, nothing written.

    One conditional UPDATE decides between concurrent saves: PostgreSQL re-checks the WHERE clause after
    the first saver commits, so the second matches nothing. Saving counts as a review.
    """
    fields: dict[str, Any] = {
        "latest_number": F("latest_number") + 1,
        "reviewed_on": timezone.localdate(),
        "updated_at": timezone.now(),
    }
    if name is not None:
        fields["name"] = _check_name(name, exclude=playbook)
    if owner is not None:
        fields["owner"] = owner
    if scenario is not None:
        fields["scenario"] = scenario
    try:
        with transaction.atomic():
            won = Playbook.objects.filter(pk=playbook.pk, latest_number=base_number, is_retired=False).update(
                **fields
            )
    except IntegrityError:  # a concurrent rename took the name first
        raise PlaybookError(f"There is already a playbook called “{name}”.") from None
    current = Playbook.objects.get(pk=playbook.pk)
    if not won:
        if current.is_retired:
            raise PlaybookError("This playbook has been retired; restore it before editing.")
        raise StaleVersion(
            f"{current.name} was saved as v{current.latest_number} while you were editing v{base_number}. "
            "Nothing was saved; your changes are still in the form. Compare the versions, then save again.",
            current=current,
        )
    return _write_version(current, current.latest_number, actor, content)


@transaction.atomic
def playbook_duplicate(*, playbook: Playbook, actor: User) -> Playbook:
    """A new playbook starting from this one's newest version (e.g. a variant for another market)."""
    base = f"Copy of {playbook.name}"[:110]
    name, n = base, 2
    while Playbook.objects.filter(name__iexact=name).exists():
        name, n = f"{base} ({n})", n + 1
    content = replace(content_of(playbook.latest()), change_note=f"Duplicated from {playbook.name}")
    return playbook_create(actor=actor, name=name, scenario=playbook.scenario, owner=actor, content=content)


@transaction.atomic
def playbook_retire(*, playbook: Playbook, actor: User, retire: bool = True) -> Playbook:
    """Retire (no longer offered when declaring; kept for the incidents declared from it) or restore."""
    locked = Playbook.objects.select_for_update().get(pk=playbook.pk)
    if locked.is_retired == retire:
        raise PlaybookError(f"{locked.name} is already {'retired' if retire else 'in use'}.")
    locked.is_retired = retire
    locked.retired_at = timezone.now() if retire else None
    locked.retired_by = actor if retire else None
    locked.save(update_fields=["is_retired", "retired_at", "retired_by", "updated_at"])
    return locked


@transaction.atomic
def playbook_mark_reviewed(*, playbook: Playbook, actor: User) -> Playbook:
    """Someone read it through and it still holds: the 90-day clock starts again."""
    locked = Playbook.objects.select_for_update().get(pk=playbook.pk)
    locked.reviewed_on = timezone.localdate()
    locked.save(update_fields=["reviewed_on", "updated_at"])
    return locked


# --- declaring from a playbook ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamPick:
    """One proposed role as the declarer left it: the person (None: leave unfilled) and their backup."""

    slot: PlaybookRole
    person: User | None
    backup: User | None = None


@dataclass
class Declared:
    incident: Incident
    skipped: list[str] = field(default_factory=list)


@transaction.atomic
def declare_from_playbook(
    *,
    actor: User,
    version: PlaybookVersion,
    title: str,
    severity: str,
    team: Sequence[TeamPick] = (),
    summary: str = "",
    affected_platforms: Iterable[str] = (),
    detected_at: datetime | None = None,
    is_drill: bool = False,
    is_restricted: bool = False,
    commander: User | None = None,
) -> Declared:
    """Declare, staff, schedule the checklist and (for a drill) the injects, in one transaction."""
    playbook = version.playbook
    if playbook.is_retired:
        raise PlaybookError(f"The playbook “{playbook.name}” has been retired; choose another.")
    incident = incident_declare(
        actor=actor,
        title=title,
        scenario=playbook.scenario,
        severity=severity,
        summary=summary,
        affected_platforms=affected_platforms,
        detected_at=detected_at,
        is_drill=is_drill,
        is_restricted=is_restricted,
        commander=commander,
    )
    IncidentPlaybook.objects.create(incident=incident, version=version)
    result = Declared(incident=incident)
    holders: dict[int, User] = {}
    # Who holds what already (the commander; the declarer as deputy when they named someone else).
    held = set(RoleAssignment.objects.current().filter(incident=incident).values_list("user_id", "role_id"))
    for pick in team:
        if pick.person is None:
            continue
        if (pick.person.pk, pick.slot.role_id) in held:
            holders.setdefault(pick.slot.role_id, pick.person)
            continue
        try:
            team_add_member(
                incident=incident,
                actor=actor,
                user=pick.person,
                role=pick.slot.role,
                backup=pick.backup if pick.backup != pick.person else None,
                note=f"{'DRILL — ' if is_drill else ''}From the playbook “{playbook.name}”",
            )
        except TeamError as exc:
            result.skipped.append(str(exc))
            continue
        held.add((pick.person.pk, pick.slot.role_id))
        holders.setdefault(pick.slot.role_id, pick.person)
    tasks = list(version.tasks.select_related("role"))
    for task in tasks:
        deadline_create(
            incident=incident,
            kind=DeadlineKind.TASK,
            title=task.title,
            due_at=incident.declared_at + timedelta(minutes=task.offset_minutes),
            owner=holders.get(task.role_id) if task.role_id else None,
            role=task.role,
            actor=actor,
            notes=task.notes,
            key=f"playbook-task:{task.pk}",
        )
    injects = list(version.injects.all()) if is_drill else []
    DrillInject.objects.bulk_create(
        DrillInject(
            incident=incident,
            source=x,
            due_at=incident.declared_at + timedelta(seconds=x.offset_seconds),
            kind=x.kind,
            text=x.text,
        )
        for x in injects
    )
    staffed = len(holders)
    text = (
        f"Declared from the playbook “{playbook.name}” v{version.number}: {len(tasks)} task"
        f"{'s' if len(tasks) != 1 else ''} scheduled, {staffed} role{'s' if staffed != 1 else ''} staffed"
    )
    if is_drill:
        text = f"DRILL — {text}, {len(injects)} scripted inject{'s' if len(injects) != 1 else ''} to come."
    timeline_record(incident=incident, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    return result


def version_to_declare(code: object, number: object = None) -> PlaybookVersion | None:
    """The playbook version a declare form is about: the one it was shown (`number`), else the newest.
    None for no playbook or an unknown one; retired playbooks are refused when declaring."""
    try:
        key = uuid.UUID(str(code)) if code else None
        wanted = int(str(number)) if number else None
    except ValueError:
        return None
    if key is None:
        return None
    playbook = Playbook.objects.filter(code=key).first()
    if playbook is None:
        return None
    return (
        PlaybookVersion.objects.select_related("playbook")
        .filter(playbook=playbook, number=wanted or playbook.latest_number)
        .first()
    )


def declare_choices() -> list[Playbook]:
    """Playbooks offered on the declare page, with the newest version's severity for the cards."""
    playbooks = list(Playbook.objects.active().order_by("name"))
    latest = {
        v.playbook_id: v
        for v in PlaybookVersion.objects.filter(
            playbook__in=playbooks, number=F("playbook__latest_number")
        ).only("playbook_id", "default_severity", "number")
    }
    for p in playbooks:
        p.current = latest.get(p.pk)  # type: ignore[attr-defined]
    return playbooks


def incident_playbook(incident: Incident) -> PlaybookVersion | None:
    record = (
        IncidentPlaybook.objects.filter(incident=incident)
        .select_related("version", "version__playbook")
        .first()
    )
    return record.version if record else None


def templates_first(incident: Incident, templates: list[StatementTemplate]) -> list[StatementTemplate]:
    """The statement editor's list: the incident's playbook templates first (marked `from_playbook`), then
    the general ones. Templates that belong to other playbooks (or other versions) are left out, so the
    general list does not fill up with every playbook's copies."""
    version = incident_playbook(incident)
    own: list[StatementTemplate] = []
    if version is not None:
        for link in version.templates.select_related("template").filter(template__is_active=True):
            link.template.from_playbook = True  # type: ignore[attr-defined]
            own.append(link.template)
    own_ids = {t.pk for t in own}
    owned = set(
        PlaybookTemplate.objects.filter(template_id__in=[t.pk for t in templates]).values_list(
            "template_id", flat=True
        )
    )
    return own + [t for t in templates if t.pk not in owned and t.pk not in own_ids]


# --- drills ---------------------------------------------------------------------------------------------------


def inject_sweep(*, now: datetime | None = None, limit: int = 200) -> int:
    """Post every due drill inject to its timeline, exactly once each.

    Each inject is claimed with SKIP LOCKED and posted in the same transaction that marks it posted, so
    parallel sweeps never double-post and a crashed sweep leaves it for the next one. The entry rides the
    incident's live stream like any other. Injects of a drill that has already ended are not posted.
    """
    posted = 0
    while posted < limit:
        with transaction.atomic():
            row = (
                DrillInject.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("incident")
                .filter(posted_at__isnull=True, due_at__lte=now or timezone.now())
                .order_by("due_at", "pk")
                .first()
            )
            if row is None:
                break
            row.posted_at = timezone.now()
            if row.incident.is_open:
                # EXTERNAL: an injected event plays the outside world (a call, a spike), not a system change.
                row.entry = timeline_append(
                    incident=row.incident, kind=TimelineEntry.Kind.EXTERNAL, author=None, body=row.body
                )
            row.save(update_fields=["posted_at", "entry"])
            posted += 1
    return posted


# --- reviews ----------------------------------------------------------------------------------------------------


def playbook_url(playbook: Playbook) -> str:
    return reverse("playbooks:detail", args=[playbook.code])


def review_reminders_send(*, today: date | None = None) -> int:
    """Remind each owner whose playbook has gone 90 days without a review: once per review date."""
    today = today or timezone.localdate()
    sent = 0
    due = (
        Playbook.objects.active()
        .filter(reviewed_on__lte=today - REVIEW_INTERVAL, owner__is_active=True)
        .exclude(review_reminded_for=F("reviewed_on"))
        .select_related("owner")
    )
    for playbook in due:
        with transaction.atomic():
            # The claim: only one sweep (or retry) gets the row for this review date.
            claimed = (
                Playbook.objects.filter(pk=playbook.pk, reviewed_on=playbook.reviewed_on)
                .exclude(review_reminded_for=playbook.reviewed_on)
                .update(review_reminded_for=playbook.reviewed_on)
            )
            if not claimed or playbook.owner is None:
                continue
            days = (today - playbook.reviewed_on).days
            notify(
                user=playbook.owner,
                incident=None,
                text=f"The playbook “{playbook.name}” was last reviewed {days} days ago. Read it through: "
                "are the people, contacts and templates still right? Save or mark it reviewed.",
                url=playbook_url(playbook),
                key=f"playbook-review:{playbook.pk}:{playbook.reviewed_on.isoformat()}",
            )
            sent += 1
    return sent


# --- comparing two versions ---------------------------------------------------------------------------------


@dataclass
class FieldChange:
    label: str
    old: str
    new: str
    diff: SafeString | None = None


@dataclass
class ListChange:
    label: str
    removed: list[str]
    added: list[str]
    unchanged: int
    changed: list[tuple[str, SafeString]] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.removed or self.added or self.changed)


def _lines(content: Content) -> dict[str, list[str]]:
    def person(u: User | None) -> str:
        return str(u) if u else "nobody yet"

    return {
        "Roles to fill": [
            f"{r.role.name}: {person(r.person)} (backup: {person(r.backup)})" for r in content.roles
        ],
        "Tasks": [
            f"{offset_label(t.offset_minutes * 60)} · {t.title}"
            + (f" · {t.role.name}" if t.role else "")
            + (f" — {t.notes}" if t.notes else "")
            for t in content.tasks
        ],
        "Contacts": [
            " · ".join(p for p in (c.name, c.organisation, c.phone, c.email, c.notes) if p)
            for c in content.contacts
        ],
        "Drill injects": [
            f"{offset_label(x.offset_seconds)} · {InjectKind(x.kind).label} · {x.text}"
            for x in content.injects
        ],
    }


def _list_change(label: str, old: list[str], new: list[str]) -> ListChange:
    remaining = list(new)
    removed: list[str] = []
    unchanged = 0
    for line in old:
        if line in remaining:
            remaining.remove(line)
            unchanged += 1
        else:
            removed.append(line)
    return ListChange(label=label, removed=removed, added=remaining, unchanged=unchanged)


def compare_versions(
    old: PlaybookVersion, new: PlaybookVersion
) -> tuple[list[FieldChange], list[ListChange]]:
    """What changed from `old` to `new`: changed fields (with a word diff for text), then each list."""
    a, b = content_of(old), content_of(new)
    fields: list[FieldChange] = []
    for name in Content.SCALARS:
        if name == "change_note":
            continue
        before, after = getattr(a, name), getattr(b, name)
        if before == after:
            continue
        label = str(getattr(PlaybookVersion._meta.get_field(name), "verbose_name", name)).capitalize()
        old_text, new_text = _display(before), _display(after)
        diff = word_diff(old_text, new_text) if isinstance(before, str) and len(old_text) > 40 else None
        fields.append(FieldChange(label=label, old=old_text, new=new_text, diff=diff))
    if a.platforms != b.platforms:
        fields.append(FieldChange(label="Platforms", old=", ".join(a.platforms), new=", ".join(b.platforms)))
    lists = [_list_change(label, lines, _lines(b)[label]) for label, lines in _lines(a).items()]
    templates = ListChange(label="Statement templates", removed=[], added=[], unchanged=0)
    by_key = {(t.channel, t.audience, t.name): t for t in a.templates}
    seen: set[tuple[str, str, str]] = set()
    for t in b.templates:
        key = (t.channel, t.audience, t.name)
        label = f"{t.name} ({Channel(t.channel).label}, {Audience(t.audience).label})"
        before_t = by_key.get(key)
        seen.add(key)
        if before_t is None:
            templates.added.append(label)
        elif (before_t.title, canonical_text(before_t.body), before_t.guidance) == (
            t.title,
            canonical_text(t.body),
            t.guidance,
        ):
            templates.unchanged += 1
        else:
            templates.changed.append(
                (label, word_diff(f"{before_t.title}\n\n{before_t.body}", f"{t.title}\n\n{t.body}"))
            )
    for key, t in by_key.items():
        if key not in seen:
            templates.removed.append(f"{t.name} ({Channel(t.channel).label}, {Audience(t.audience).label})")
    lists.insert(2, templates)
    return fields, lists


def _display(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, str) and value in {"sev1", "sev2", "sev3", "sev4"}:
        return value.upper()
    return str(value)
