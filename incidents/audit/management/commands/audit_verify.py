from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from incidents.audit import chain
from incidents.audit.models import AuditEvent


def _anchor(value: str) -> tuple[int, bytes]:
    seq, _, digest = value.partition(":")
    try:
        return int(seq), bytes.fromhex(digest)
    except ValueError as exc:
        raise CommandError(
            f"--head takes SEQ:HASH as the sealer logs it, e.g. 1234:ab12…; got {value!r}"
        ) from exc


class Command(BaseCommand):
    help = (
        "Recompute the audit log's hash chain from its first link and name the first broken one "
        "(exit code 1). Reads only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seal", action="store_true", help="seal what is waiting first")
        parser.add_argument(
            "--head",
            metavar="SEQ:HASH",
            help="also check that link SEQ still has this hash (the head the sealer logged earlier)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection.ensure_connection()
        if options["seal"]:
            try:
                chain.seal_all(connection.connection)
            except chain.SealTimeout as exc:
                self.stderr.write(str(exc))
        anchor = _anchor(options["head"]) if options["head"] else None
        result = chain.verify(connection.connection, anchor=anchor)
        if result.broken is not None:
            detail = ""
            if result.broken.event_id is not None:
                event = AuditEvent.objects.filter(pk=result.broken.event_id).first()
                if event is not None:
                    detail = f"\n  row: {event.table_name} #{event.row_pk}, {event.get_op_display()} at {event.occurred_at.isoformat()}"
            raise CommandError(
                f"Audit chain broken after {result.links} intact link(s). First broken {result.broken.describe()}{detail}",
                returncode=1,
            )
        self.stdout.write(
            f"Audit chain intact: {result.links} link(s), head {result.head_hash.hex()}"
            + (f"; {result.pending} row(s) waiting to be sealed." if result.pending else ".")
        )
