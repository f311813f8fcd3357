"""Every change that touches more than one row goes through a function here.

Views, tasks, management commands and the admin all call the same functions, so locking, history,
permissions and notifications happen the same way whoever makes the change.
"""

from __future__ import annotations

from incidents.services.lifecycle import (
    StaleEdit,
    incident_change_severity,
    incident_change_status,
    incident_declare,
)
from incidents.services.notify import notify, send_pending_emails
from incidents.services.team import (
    TeamError,
    role_resync_holders,
    team_add_member,
    team_handover,
    team_leave,
    team_remove_role,
    team_set_backup,
)
from incidents.services.timeline import (
    TimelineError,
    new_idempotency_key,
    pinned_seqs,
    timeline_append,
    timeline_correct,
    timeline_pin,
    timeline_post,
    timeline_record,
)

__all__ = [
    "StaleEdit",
    "TeamError",
    "TimelineError",
    "incident_change_severity",
    "incident_change_status",
    "incident_declare",
    "new_idempotency_key",
    "notify",
    "pinned_seqs",
    "role_resync_holders",
    "send_pending_emails",
    "team_add_member",
    "team_handover",
    "team_leave",
    "team_remove_role",
    "team_set_backup",
    "timeline_append",
    "timeline_correct",
    "timeline_pin",
    "timeline_post",
    "timeline_record",
]
