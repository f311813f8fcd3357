"""Domain models, one module per area; import from `incidents.models`.

Models hold single-row facts, vocabularies and transition tables; they import nothing else of the project
(services, views and sub-apps depend on them, never the reverse).
"""

from __future__ import annotations

from incidents.models.approval_chains import (
    Approval,
    ApprovalChainTemplate,
    ApprovalRule,
    ApprovalStepTemplate,
    ChainStep,
)
from incidents.models.deadlines import (
    Deadline,
    DeadlineKind,
    DeadlineState,
    FiredBy,
    Reminder,
    ReminderKind,
    ReminderState,
    ResponsePolicy,
    WebhookDelivery,
    WebhookEndpoint,
)
from incidents.models.errors import InputRefused, NotAllowed, Refused
from incidents.models.incident import (
    SEVERITY_MEANING,
    STATUS_MEANING,
    DrillSpeed,
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
from incidents.models.statement_text import (
    CHANNEL_LIMITS,
    PLACEHOLDERS,
    Audience,
    Channel,
    StatementError,
    TextRefused,
    canonical_text,
    text_sha256,
)
from incidents.models.statements import (
    Publication,
    Statement,
    StatementStatus,
    StatementTemplate,
    StatementVersion,
    VersionComment,
)
from incidents.models.summary import SummaryVersion
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
    "CHANNEL_LIMITS",
    "PLACEHOLDERS",
    "SEVERITY_MEANING",
    "STATUS_MEANING",
    "Approval",
    "ApprovalChainTemplate",
    "ApprovalRule",
    "ApprovalStepTemplate",
    "Audience",
    "ChainStep",
    "Channel",
    "Deadline",
    "DeadlineKind",
    "DeadlineState",
    "DrillSpeed",
    "Evidence",
    "FiredBy",
    "Incident",
    "IncidentChange",
    "IncidentGroupObjectPermission",
    "IncidentQuerySet",
    "IncidentRole",
    "IncidentUserObjectPermission",
    "InputRefused",
    "InvalidTransition",
    "NotAllowed",
    "Notification",
    "OrgRole",
    "OutboundEmail",
    "Perm",
    "Platform",
    "Publication",
    "ReferenceCounter",
    "Refused",
    "Reminder",
    "ReminderKind",
    "ReminderState",
    "ResponsePolicy",
    "RoleAssignment",
    "Scenario",
    "Severity",
    "Statement",
    "StatementError",
    "StatementStatus",
    "StatementTemplate",
    "StatementVersion",
    "Status",
    "SummaryVersion",
    "TeamEvent",
    "TextRefused",
    "TimelineEntry",
    "User",
    "VersionComment",
    "WebhookDelivery",
    "WebhookEndpoint",
    "canonical_text",
    "text_sha256",
]
