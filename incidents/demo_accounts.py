"""Demo logins. No Django imports: the `make run` launcher prints these before Django is set up."""

from __future__ import annotations

DEMO_PASSWORD = "warroom-demo-2026"

# (email, display name, what they do) — printed by `make run`.
DEMO_USERS: list[tuple[str, str, str]] = [
    ("maja@northwind.example", "Maja Kowalska", "Crisis manager, usually incident commander"),
    ("erik@northwind.example", "Erik Lindqvist", "Communications lead"),
    ("priya@northwind.example", "Priya Raman", "Legal counsel"),
    ("daniel@northwind.example", "Daniel Okafor", "Chief executive (approver)"),
    ("sofia@northwind.example", "Sofia Petrova", "Social media manager"),
    ("admin@northwind.example", "Ops Admin", "Administrator (configuration admin)"),
]
