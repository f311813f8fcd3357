"""Statements in the browser: `pages` answers the reads (the room's panel, the statement page, the
approvals queue), `new` starting a statement (from a template, submitted in the same step), `changes` the
other POSTs (through the one action helper, incidents.views.actions).

May import models, forms, services and permissions; nothing imports these modules but urls and the room.
"""

from __future__ import annotations

from incidents.views.statements.changes import (
    statement_approve,
    statement_comment,
    statement_publish,
    statement_reject,
    statement_save,
    statement_submit,
    statement_withdraw,
)
from incidents.views.statements.new import statement_new
from incidents.views.statements.pages import (
    my_approvals,
    room_statements_context,
    statement,
    statement_card,
    statements,
)

__all__ = [
    "my_approvals",
    "room_statements_context",
    "statement",
    "statement_approve",
    "statement_card",
    "statement_comment",
    "statement_new",
    "statement_publish",
    "statement_reject",
    "statement_save",
    "statement_submit",
    "statement_withdraw",
    "statements",
]
