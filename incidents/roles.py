"""The seeded role catalogue (admins may edit it afterwards) and the code that keeps it present.

Seeding runs in migration 0003 and again after every `migrate`/test-database flush (post_migrate), but
only creates roles that are missing: edits made in the admin are never overwritten.
"""

from __future__ import annotations

from typing import Any

# (slug, name, description, post, draft, approve, publish, manage team, change status, manage deadlines)
ROLES: list[tuple[Any, ...]] = [
    (
        "commander",
        "Incident commander",
        "Runs the response; final say on priorities. Exactly one at any time.",
        True,
        True,
        True,
        True,
        True,
        True,
        True,
    ),
    (
        "deputy",
        "Deputy commander",
        "Stands in for the commander and shares the load.",
        True,
        True,
        True,
        True,
        True,
        True,
        True,
    ),
    (
        "spokesperson",
        "Spokesperson",
        "The public face: speaks to press and publishes approved lines.",
        True,
        True,
        False,
        True,
        False,
        False,
        False,
    ),
    (
        "comms-lead",
        "Communications lead",
        "Owns messaging, approves wording and the update cadence.",
        True,
        True,
        True,
        True,
        False,
        False,
        True,
    ),
    (
        "drafter",
        "Drafter",
        "Writes statement drafts per channel and audience.",
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ),
    (
        "legal",
        "Legal reviewer",
        "Reviews statements for legal risk; approves as the legal step.",
        True,
        False,
        True,
        False,
        False,
        False,
        False,
    ),
    (
        "executive",
        "Executive approver",
        "Signs off statements at executive level.",
        True,
        False,
        True,
        False,
        False,
        False,
        False,
    ),
    (
        "social",
        "Social media manager",
        "Monitors channels, publishes approved posts, tracks mentions.",
        True,
        True,
        False,
        True,
        False,
        False,
        False,
    ),
    (
        "support",
        "Customer support liaison",
        "Keeps support lines and macros in step with what was said.",
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ),
    (
        "scribe",
        "Scribe",
        "Keeps the timeline complete; tracks deadlines and tasks.",
        True,
        False,
        False,
        False,
        False,
        False,
        True,
    ),
    (
        "observer",
        "Observer",
        "Read-only seat for stakeholders.",
        False,
        False,
        False,
        False,
        False,
        False,
        False,
    ),
]
FLAGS: list[str] = [
    "can_post",
    "can_draft",
    "can_approve",
    "can_publish",
    "can_manage_team",
    "can_change_status",
    "can_manage_deadlines",
]


def ensure_roles(role_model: Any) -> int:
    """Create the seeded roles that do not exist yet; return how many were created."""
    existing = set(role_model.objects.values_list("slug", flat=True))
    created = 0
    for order, (slug, name, description, *flags) in enumerate(ROLES):
        if slug in existing:
            continue
        role_model.objects.create(
            slug=slug,
            name=name,
            description=description,
            sort_order=(order + 1) * 10,
            is_command=slug == "commander",
            **dict(zip(FLAGS, flags, strict=True)),
        )
        created += 1
    return created
