from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.demo_accounts import DEMO_USERS, TOTP_STEP, demo_code, demo_totp_secret


class Command(BaseCommand):
    help = "Print a demo login's current second-factor code (what its authenticator app would show)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="a demo login, e.g. maja@northwind.example")
        parser.add_argument(
            "--key", action="store_true", help="also print the key, for a real authenticator app"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = str(options["email"]).strip().lower()
        known = [e for e, _, _ in DEMO_USERS]
        if email not in known:
            raise CommandError(f"{email} is not a demo login; these are: {', '.join(known)}")
        left = TOTP_STEP - int(time.time()) % TOTP_STEP
        self.stdout.write(demo_code(email))
        self.stderr.write(f"valid for {left} more seconds, once; then run this again for the next one")
        if options["key"]:
            self.stderr.write(f"key for an authenticator app: {demo_totp_secret(email)}")
