"""What the stakeholders app does when others change things; connected in StakeholdersConfig.ready().

Seeding the register: when an incident is declared from a playbook (the playbooks app writes its
IncidentPlaybook row inside the declaring transaction), its key contacts join the register. Listened to as
Django's post_save of that model, so neither app imports the other. May import this app's services.
"""

from __future__ import annotations

from typing import Any

from incidents.stakeholders.services import seed_from_contacts


def seed_on_declare(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if not created or kwargs.get("raw"):
        return
    contacts = list(
        instance.version.contacts.values("id", "kind", "name", "organisation", "phone", "email", "notes")
    )
    if contacts:
        seed_from_contacts(incident=instance.incident, contacts=contacts)
