"""What a playbook version holds, as plain values independent of rows: the editor's data, seeds, duplicates
and comparisons all speak it, and `services.playbook_save_version` writes it.

May import models (the base app's and this app's) only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from incidents.models import ApprovalChainTemplate, IncidentRole, StatementTemplate, User
from incidents.playbooks.models import Playbook, PlaybookVersion


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
class ClockSpec:
    name: str
    hours: int
    authority: str = ""
    basis: str = ""
    starts: str = "aware"
    role: IncidentRole | None = None
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
    clocks: tuple[ClockSpec, ...] = ()

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
                name=template_short_name(version.playbook, t.template),
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
        clocks=tuple(
            ClockSpec(
                name=c.name,
                hours=c.hours,
                authority=c.authority,
                basis=c.basis,
                starts=c.starts,
                role=c.role,
                notes=c.notes,
            )
            for c in version.clocks.select_related("role")
        ),
    )


def template_short_name(playbook: Playbook, template: StatementTemplate) -> str:
    """A playbook template's own name, without the "<playbook>: " prefix that keeps template names unique."""
    return re.sub(r" \([0-9a-f]{6}\)$", "", template.name.split(": ", 1)[-1])
