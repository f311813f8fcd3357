"""One module per kind of connector: how exactly the approved bytes go to that platform, and what its answers
mean (base.py has the shared vocabulary). `send(connector, parcel)` never raises for a platform's or the
network's failure: it returns what happened. May import models, limits and the base app's notify service."""

from __future__ import annotations

from incidents.publishing.connectors.base import Failed, Outcome, Parcel, Sent, Unknown
from incidents.publishing.connectors.registry import send

__all__ = ["Failed", "Outcome", "Parcel", "Sent", "Unknown", "send"]
