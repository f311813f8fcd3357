from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from incidents.models import Incident, IncidentRole, OrgRole, Platform, Scenario, Severity, User
from incidents.services.team import assign_command, team_add_member

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    display_name = factory.Faker("name")
    phone = "+44 20 7946 0000"
    time_zone = "Europe/Warsaw"
    org_role = OrgRole.MEMBER
    password = factory.django.Password(PASSWORD)


class IncidentFactory(factory.django.DjangoModelFactory[Incident]):
    class Meta:
        model = Incident
        skip_postgeneration_save = True

    reference = factory.LazyFunction(lambda: Incident.next_reference(timezone.now().year))
    title = factory.Sequence(lambda n: f"Viral complaint number {n}")
    summary = "A customer video about a faulty product is spreading."
    scenario = Scenario.COMPLAINT
    severity = Severity.SEV2
    affected_platforms = factory.LazyFunction(lambda: [Platform.TIKTOK, Platform.X])
    declared_at = factory.LazyFunction(timezone.now)
    detected_at = factory.LazyAttribute(lambda o: o.declared_at - timedelta(minutes=10))
    status_changed_at = factory.LazyAttribute(lambda o: o.declared_at)
    declared_by = factory.SubFactory(UserFactory)
    commander = factory.LazyAttribute(lambda o: o.declared_by)

    @factory.post_generation  # type: ignore[untyped-decorator]
    def team(obj: Incident, create: bool, extracted: object, **kwargs: object) -> None:
        """Give the commander the command role, as incident_declare does (team=False to skip)."""
        if create and extracted is not False and obj.commander is not None:
            assign_command(incident=obj, commander=obj.commander, actor=obj.declared_by)


def give_role(incident: Incident, user: User, slug: str, *, actor: User | None = None) -> None:
    """Put `user` on the team in the role with this slug (the commander adds them)."""
    role = IncidentRole.objects.get(slug=slug)
    team_add_member(incident=incident, actor=actor or incident.commander or user, user=user, role=role)
