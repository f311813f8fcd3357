from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from incidents.audit import chain


class Command(BaseCommand):
    help = "Seal every audit row written so far into the hash chain (waits for older transactions to end)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")

    def handle(self, *args: Any, **options: Any) -> None:
        connection.ensure_connection()
        try:
            result = chain.seal_all(connection.connection, timeout=options["timeout"])
        except chain.SealTimeout as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Sealed {result.sealed} new row(s); the chain has {result.head_seq} link(s), "
            f"head {result.head_hash.hex()}."
        )
