"""A small, fully specified playbook for the playbook tests (unit and browser), and declaring from it."""

from __future__ import annotations

from django.urls import reverse

from incidents.models import IncidentRole, User
from incidents.playbooks import services as pb
from incidents.playbooks.models import InjectKind, Playbook
from tests.factories import UserFactory

HX = {"HTTP_HX_REQUEST": "true"}
PLAYBOOK_TABLES = [
    "playbooks_playbook",
    "playbooks_playbookversion",
    "playbooks_playbookrole",
    "playbooks_playbooktask",
    "playbooks_playbooktemplate",
    "playbooks_playbookcontact",
    "playbooks_playbookinject",
    "incidents_statementtemplate",
]
DECLARE_TABLES = [
    "incidents_incident",
    "incidents_roleassignment",
    "incidents_deadline",
    "incidents_timelineentry",
    "playbooks_incidentplaybook",
    "playbooks_drillinject",
]


def role(slug: str) -> IncidentRole:
    return IncidentRole.objects.get(slug=slug)


def make_people() -> dict[str, User]:
    return {
        name: UserFactory.create(display_name=name.title(), email=f"{name}@northwind.example")
        for name in ("erik", "priya", "sofia", "daniel")
    }


def make_playbook(manager: User, people: dict[str, User], *, executive: bool = False) -> Playbook:
    """Two roles with people (three with `executive`), three tasks, two templates, two drill injects."""
    roles = [
        pb.RoleSpec(role=role("comms-lead"), person=people["erik"], backup=people["sofia"]),
        pb.RoleSpec(role=role("legal"), person=people["priya"]),
    ]
    if executive:
        roles.append(pb.RoleSpec(role=role("executive"), person=people["daniel"]))
    content = pb.Content(
        title_hint="Outage: ",
        description="Checkout or app down and people say so in public.",
        risk_notes="Never guess a fix time.",
        default_severity="sev2",
        platforms=("x", "website"),
        bridge_line="+46 8 555 000 99",
        roles=tuple(roles),
        tasks=(
            pb.TaskSpec(title="Acknowledge publicly", offset_minutes=30, role=role("comms-lead")),
            pb.TaskSpec(title="Pause scheduled posts", offset_minutes=5),
            pb.TaskSpec(title="Legal check of the statement", offset_minutes=60, role=role("legal")),
        ),
        templates=(
            pb.TemplateSpec(
                name="Holding (X)",
                channel="x",
                audience="public",
                title="Holding: {incident_title}",
                body="We know about {incident_title} and we're sorry. Next update by {next_update_time}.",
            ),
            pb.TemplateSpec(
                name="Support macro",
                channel="support_macro",
                audience="customers",
                title="Support: {incident_title}",
                body="Thanks for writing. We know about {incident_title}; next update by {next_update_time}.",
            ),
        ),
        injects=(
            pb.InjectSpec(offset_seconds=60, kind=InjectKind.JOURNALIST, text="Reporter from DN calls"),
            pb.InjectSpec(offset_seconds=180, kind=InjectKind.MENTIONS, text="Mentions triple"),
        ),
    )
    return pb.playbook_create(
        actor=manager, name="Checkout outage", scenario="outage", owner=manager, content=content
    )


def declare_post(client, playbook: Playbook, **extra):
    version = playbook.latest()
    data = {
        "playbook": str(playbook.code),
        "playbook_version": str(version.number),
        "title": "Outage: checkout charging twice",
        "severity": "sev2",
        "accept_team": "on",
    }
    for slot in version.roles.select_related("person", "backup"):
        data[f"person_{slot.pk}"] = slot.person.email if slot.person else ""
        data[f"backup_{slot.pk}"] = slot.backup.email if slot.backup else ""
    data.update(extra)
    return client.post(reverse("incidents:declare"), data)
