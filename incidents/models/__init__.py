"""Domain models, one module per area; import from `incidents.models`."""

from __future__ import annotations

from incidents.models.incident import (
    SEVERITY_MEANING,
    STATUS_MEANING,
    Incident,
    IncidentChange,
    IncidentQuerySet,
    InvalidTransition,
    Platform,
    ReferenceCounter,
    Scenario,
    Severity,
    Status,
)
from incidents.models.users import OrgRole, User

__all__ = [
    "SEVERITY_MEANING",
    "STATUS_MEANING",
    "Incident",
    "IncidentChange",
    "IncidentQuerySet",
    "InvalidTransition",
    "OrgRole",
    "Platform",
    "ReferenceCounter",
    "Scenario",
    "Severity",
    "Status",
    "User",
]
