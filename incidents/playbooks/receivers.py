"""What the playbooks app answers when the base app asks (incidents.hooks); connected in PlaybooksConfig.ready().

May import the base app's models and this app's models and services.
"""

from __future__ import annotations

from incidents.models import Incident, StatementTemplate
from incidents.playbooks.models import IncidentPlaybook
from incidents.playbooks.services import templates_first


def playbook_chain(incident: Incident) -> int | None:
    """The approval chain named by the playbook version the incident was declared from (one query)."""
    chain_id: int | None = (
        IncidentPlaybook.objects.filter(incident=incident)
        .values_list("version__approval_chain", flat=True)
        .first()
    )
    return chain_id


def playbook_templates_first(
    incident: Incident, templates: list[StatementTemplate]
) -> list[StatementTemplate]:
    """The incident's playbook templates first, then the general ones (see templates_first)."""
    return templates_first(incident, templates)
