"""Where the base app lets its sub-apps (playbooks, reviews, listening, …) take part in its changes without
importing them: the base app calls a hook, a sub-app connects a receiver to it in its AppConfig.ready().
The dependency points one way. May import models only (for types).

Receivers run in the caller's transaction, in the order they were connected; an exception in one rolls the
whole change back, as if the code were written inline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from incidents.models import Incident, Statement, StatementTemplate, User

F = TypeVar("F", bound=Callable[..., Any])


class Hook(Generic[F]):
    """A named list of receivers of one shape (F). Connect at start-up; iterate to call them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[F] = []

    def connect(self, receiver: F) -> F:
        """Add a receiver (once: reloading an app config must not double it). Usable as a decorator."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: F) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def __iter__(self) -> Iterator[F]:
        return iter(tuple(self._receivers))

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._receivers)} receivers>"


# --- the hooks ------------------------------------------------------------------------------------------------

statement_chain: Hook[Callable[[Incident], int | None]] = Hook("statement_chain")
"""The approval chain (an ApprovalChainTemplate id) the incident's own setup names — the playbook it was
declared from — or None for no opinion. Asked when a statement is submitted; the first answer wins."""

statement_templates: Hook[Callable[[Incident, list[StatementTemplate]], list[StatementTemplate]]] = Hook(
    "statement_templates"
)
"""The statement editor's templates for an incident, in the order they are offered: each receiver gets the
list so far and returns it rearranged (the playbooks app puts the incident's playbook templates first)."""


class IncidentResolved(Protocol):
    def __call__(self, *, incident: Incident, actor: User) -> object: ...


# Called by `services.lifecycle.incident_change_status` when an incident is resolved, with the incident row
# locked and before it is saved. The reviews app opens the post-incident review (incidents/reviews/apps.py).
incident_resolved: Hook[IncidentResolved] = Hook("incident_resolved")


class StatementChanging(Protocol):
    def __call__(self, *, statement: Statement, change: str) -> object: ...


# Called by the drafting services with the statement row locked, before a new version is saved ("edit") or
# the statement is withdrawn ("withdraw"). A receiver refuses (raises a StatementError) when the change must
# wait: the publishing app while the approved text is on its way to a channel (incidents/publishing).
statement_changing: Hook[StatementChanging] = Hook("statement_changing")


class IncidentAwareChanged(Protocol):
    def __call__(self, *, incident: Incident, actor: User) -> object: ...


# Called by `services.lifecycle.incident_set_aware_at` with the incident locked, after the time the
# organisation became aware changed: the playbooks app moves the regulatory clocks counted from it.
incident_aware_changed: Hook[IncidentAwareChanged] = Hook("incident_aware_changed")
