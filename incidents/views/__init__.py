from __future__ import annotations

from incidents.views.incidents import (
    change_severity,
    change_status,
    dashboard,
    declare,
    healthz,
    mark_notifications_read,
    past,
    profile,
    room,
)
from incidents.views.team import (
    contact_sheet,
    people_search,
    team_add,
    team_backup,
    team_handover,
    team_leave,
    team_panel,
    team_remove,
)
from incidents.views.timeline import (
    evidence_download,
    timeline,
    timeline_correct,
    timeline_pin,
    timeline_poll,
    timeline_post,
)

__all__ = [
    "change_severity",
    "change_status",
    "contact_sheet",
    "dashboard",
    "declare",
    "evidence_download",
    "healthz",
    "mark_notifications_read",
    "past",
    "people_search",
    "profile",
    "room",
    "team_add",
    "team_backup",
    "team_handover",
    "team_leave",
    "team_panel",
    "team_remove",
    "timeline",
    "timeline_correct",
    "timeline_pin",
    "timeline_poll",
    "timeline_post",
]
