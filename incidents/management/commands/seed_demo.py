from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from incidents.demo import seed_demo
from incidents.demo_accounts import DEMO_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = "Create the demo crisis team, a year of past incidents and today's crises (skips what already exists)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        added = seed_demo()
        took = f" in {time.monotonic() - started:.1f} s" if added else ""
        self.stdout.write(
            f"Demo data ready ({added} incidents added{took}). Password for every demo login: {DEMO_PASSWORD}"
        )
        for email, name, role in DEMO_USERS:
            self.stdout.write(f"  {email:28} {name} — {role}")
