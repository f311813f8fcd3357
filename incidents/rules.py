"""Who may do what in an incident: each rule stated once, as a yes/no function with its refusal.

Services check a rule under their lock, with the permissions read there (a role may have changed since the
page was loaded), and refuse with NotAllowed (403); views ask the same rule, with the permissions the page
was built with, what to show and whether to refuse early. May import models only.

`perms` is a set of per-incident permission codenames (`incidents.permissions.incident_perms`, or the
`viewer_perms` that `get_incident_for` puts on the incident).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Set
from typing import Generic, ParamSpec

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from incidents.models import NotAllowed, Perm, RoleAssignment, User

P = ParamSpec("P")


class Rule(Generic[P]):
    """A question about one person and one action (`rule(...)` answers it) and the refusal that goes with
    "no" (`rule.check(...)` raises it)."""

    def __init__(self, test: Callable[P, bool], refusal: str | Promise) -> None:
        self.test = test
        self.refusal = refusal
        functools.update_wrapper(self, test)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        return self.test(*args, **kwargs)

    def check(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Raise NotAllowed (403; also Django's PermissionDenied) unless the rule allows it."""
        if not self.test(*args, **kwargs):
            raise NotAllowed(str(self.refusal))


def rule(refusal: str | Promise) -> Callable[[Callable[P, bool]], Rule[P]]:
    def make(test: Callable[P, bool]) -> Rule[P]:
        return Rule(test, refusal)

    return make


# --- the incident itself ------------------------------------------------------------------------------------


@rule(_("Your role in this incident does not allow changing its status or severity."))
def may_change_status(*, perms: Set[str]) -> bool:
    """Status and severity are one decision: the commander's and their deputy's (see the role catalogue)."""
    return Perm.CHANGE_STATUS in perms


@rule(_("Only the incident commander may restrict this incident or lift its restriction."))
def may_change_restriction(*, actor: User, perms: Set[str], commander_id: int | None) -> bool:
    """Who may see an incident at all is the commander's call alone (not the deputy's): restricting it
    takes it away from everyone off the team."""
    return Perm.CHANGE_STATUS in perms and commander_id is not None and commander_id == actor.pk


# --- the team -----------------------------------------------------------------------------------------------


@rule(_("Your role in this incident does not allow changing its team."))
def may_manage_team(*, perms: Set[str]) -> bool:
    """Adding people and taking roles away."""
    return Perm.MANAGE_TEAM in perms


@rule(
    _("Only the holder of this role, or someone who manages the team, may hand it over or name its backup.")
)
def may_change_assignment(*, actor: User, perms: Set[str], assignment: RoleAssignment) -> bool:
    """Holders may hand over (or name a backup for) their own role; anyone else needs "manage team"."""
    return assignment.user_id == actor.pk or Perm.MANAGE_TEAM in perms


# --- deadlines ----------------------------------------------------------------------------------------------


@rule(_("Your role in this incident does not allow adding tasks or managing deadlines."))
def may_manage_deadlines(*, perms: Set[str]) -> bool:
    return Perm.MANAGE_DEADLINES in perms


@rule(_("Only the people responsible for this deadline, or those who manage deadlines, may do that."))
def may_act_on_deadline(*, actor: User, perms: Set[str], responsible: Collection[User]) -> bool:
    """Whoever answers for a deadline (see `services.reminders.responsible`) may complete, snooze or move
    it; so may those who manage the incident's deadlines."""
    return Perm.MANAGE_DEADLINES in perms or actor.pk in {p.pk for p in responsible}


# --- drills -------------------------------------------------------------------------------------------------


@rule(_("Only those who may change the drill's status (its commander and deputy) may pause or resume it."))
def may_run_drill(*, perms: Set[str]) -> bool:
    """Pausing a drill stops its clock for everyone: the same people who may end it."""
    return Perm.CHANGE_STATUS in perms
