"""The vocabulary of refusals: what a service raises when it will not make a change.

Services raise a subclass; views answer with the subclass's HTTP status and the message as is. Nothing in
here imports anything from the project, so models, services and views can all use it.
"""

from __future__ import annotations

from typing import ClassVar

from django.core.exceptions import PermissionDenied


class Refused(Exception):
    """A change the service would not make. Nothing was written; the message says why, to the person who
    asked, in words they can act on.

    `status` is how a view answers it: 409 when the state of things refused it (a stale edit, a transition
    the lifecycle does not allow, someone else got there first), 422 when the input itself cannot be used,
    403 when the person may not do it (re-checked under the lock: roles may have changed since the page
    was loaded).
    """

    status: ClassVar[int] = 409


class InputRefused(Refused):
    """The input cannot be used as it is (a time in the past, a missing reason, a text too long)."""

    status: ClassVar[int] = 422


class NotAllowed(Refused, PermissionDenied):
    """The person may not do this (any more). Also a PermissionDenied, so one that a view does not answer
    itself (a rule checked at the door, before any form) is Django's 403 like any other."""

    status: ClassVar[int] = 403
