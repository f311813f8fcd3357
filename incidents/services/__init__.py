"""Every change that touches more than one row goes through a function here.

Views, tasks, management commands and the admin all call the same functions, so locking, history,
permissions and notifications happen the same way whoever makes the change. Services may import models,
rules, permissions, live and hooks — and each other by module (never through this package), never views
or sub-apps. This package re-exports the names views use most.
"""

from __future__ import annotations

from incidents.services.lifecycle import (
    StaleEdit,
    incident_change_severity,
    incident_change_status,
    incident_declare,
)
from incidents.services.notify import notify, send_pending_emails
from incidents.services.statements import (
    ApprovalResult,
    ChainState,
    Review,
    StaleDraft,
    StepView,
    awaiting,
    choose_chain,
    reviews,
    statement_approve,
    statement_comment,
    statement_create,
    statement_publish,
    statement_reject,
    statement_save_draft,
    statement_submit,
    statement_url,
    statement_withdraw,
    step_views,
    template_values,
    word_diff,
)
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
    "ApprovalResult",
    "ChainState",
    "Review",
    "StaleDraft",
    "StaleEdit",
    "StepView",
    "TeamError",
    "TimelineError",
    "awaiting",
    "choose_chain",
    "incident_change_severity",
    "incident_change_status",
    "incident_declare",
    "new_idempotency_key",
    "notify",
    "pinned_seqs",
    "reviews",
    "role_resync_holders",
    "send_pending_emails",
    "statement_approve",
    "statement_comment",
    "statement_create",
    "statement_publish",
    "statement_reject",
    "statement_save_draft",
    "statement_submit",
    "statement_url",
    "statement_withdraw",
    "step_views",
    "team_add_member",
    "team_handover",
    "team_leave",
    "team_remove_role",
    "team_set_backup",
    "template_values",
    "timeline_append",
    "timeline_correct",
    "timeline_pin",
    "timeline_post",
    "timeline_record",
    "word_diff",
]
