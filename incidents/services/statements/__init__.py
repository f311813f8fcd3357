"""Statements, by stage: drafting (create, save, comment, withdraw), the chain (which applies, who may decide
each step, whether it can complete), approvals (submit, approve, reject), publishing, and the read side (selectors: progress, the approvals queue, what a viewer may do, the diff).

`rules` states each permission rule once, for the services (under the lock) and the selectors alike;
`common` holds what the stages share. The modules here may import models, permissions, hooks and the
deadline, notify and timeline services — never views, and never the `incidents.services` package itself.
Import from here (or from `incidents.services`), not from the modules.
"""

from __future__ import annotations

from incidents.services.statements.approvals import (
    ApprovalResult,
    statement_approve,
    statement_reject,
    statement_submit,
)
from incidents.services.statements.chains import (
    ChainPlan,
    PlannedStep,
    chain_plan,
    choose_chain,
    planned_chain,
)
from incidents.services.statements.common import ChainState, statement_url
from incidents.services.statements.drafting import (
    StaleDraft,
    promise_text,
    statement_comment,
    statement_create,
    statement_create_and_submit,
    statement_save_draft,
    statement_withdraw,
    template_values,
)
from incidents.services.statements.publishing import PublishResult, statement_publish
from incidents.services.statements.rules import ChainStalled, StepNeed, a_role, withdraw_perm
from incidents.services.statements.selectors import (
    ApprovalProgress,
    StatementActions,
    StepState,
    StepView,
    approval_progress,
    awaiting,
    statement_actions,
    step_views,
    word_diff,
)

__all__ = [
    "ApprovalProgress",
    "ApprovalResult",
    "ChainPlan",
    "ChainStalled",
    "ChainState",
    "PlannedStep",
    "PublishResult",
    "StaleDraft",
    "StatementActions",
    "StepNeed",
    "StepState",
    "StepView",
    "a_role",
    "approval_progress",
    "awaiting",
    "chain_plan",
    "choose_chain",
    "planned_chain",
    "promise_text",
    "statement_actions",
    "statement_approve",
    "statement_comment",
    "statement_create",
    "statement_create_and_submit",
    "statement_publish",
    "statement_reject",
    "statement_save_draft",
    "statement_submit",
    "statement_url",
    "statement_withdraw",
    "step_views",
    "template_values",
    "withdraw_perm",
    "word_diff",
]
