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
from incidents.models.team import (
    IncidentGroupObjectPermission,
    IncidentRole,
    IncidentUserObjectPermission,
    Notification,
    OutboundEmail,
    Perm,
    RoleAssignment,
    TeamEvent,
)
from incidents.models.timeline import Evidence, TimelineEntry
from incidents.models.users import OrgRole, User

__all__ = [
    "SEVERITY_MEANING",
    "STATUS_MEANING",
    "Evidence",
    "Incident",
    "IncidentChange",
    "IncidentGroupObjectPermission",
    "IncidentQuerySet",
    "IncidentRole",
    "IncidentUserObjectPermission",
    "InvalidTransition",
    "Notification",
    "OrgRole",
    "OutboundEmail",
    "Perm",
    "Platform",
    "ReferenceCounter",
    "RoleAssignment",
    "Scenario",
    "Severity",
    "Status",
    "TeamEvent",
    "TimelineEntry",
    "User",
]
