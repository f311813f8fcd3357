"""A small, fully specified playbook for the playbook tests (unit and browser)."""

from __future__ import annotations

from incidents.models import IncidentRole, User
from incidents.playbooks import services as pb
from incidents.playbooks.models import InjectKind, Playbook
from tests.factories import UserFactory


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
