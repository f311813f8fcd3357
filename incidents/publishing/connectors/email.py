"""E-mail to a distribution list (press release, customers), through the base app's SMTP outbox.

One outbox row per address, keyed "publish:<delivery key>:<n>" (unique: a repeated attempt adds nothing), the
statement's title as subject and its exact text as the body. The rows are committed first, then this attempt
sends exactly those rows (SKIP LOCKED, as every outbox sender) and reports how many have gone; rows already
sent are never sent again. Like every outbox e-mail, a worker killed between the SMTP server accepting a
message and its row being marked sent would send that one message again: SMTP has no idempotency key.
"""

from __future__ import annotations

from django.db import transaction

from incidents.models import OutboundEmail
from incidents.publishing.connectors.base import Failed, Outcome, Parcel, Sent
from incidents.services.notify import send_pending_emails


def keys(parcel: Parcel) -> list[str]:
    return [f"publish:{parcel.key}:{n}" for n in range(len(parcel.connector.recipient_list))]


def subject(parcel: Parcel) -> str:
    return (("[DRILL] " if parcel.is_drill else "") + parcel.title)[:300]


def send(parcel: Parcel, secret: str) -> Outcome:
    del secret  # the SMTP settings are the deployment's (EMAIL_* settings)
    connector = parcel.connector
    addresses = connector.recipient_list
    if not addresses:
        return Failed(f"{connector.name} has no addresses; an administrator adds them.", checked=True)
    wanted = keys(parcel)
    with transaction.atomic():
        OutboundEmail.objects.bulk_create(
            [
                OutboundEmail(key=key, to=address, subject=subject(parcel), body=parcel.text)
                for key, address in zip(wanted, addresses, strict=True)
            ],
            ignore_conflicts=True,
        )
    send_pending_emails(keys=wanted, limit=len(wanted))
    rows = list(OutboundEmail.objects.filter(key__in=wanted).values_list("to", "sent_at", "last_error"))
    unsent = [(to, error) for to, sent_at, error in rows if sent_at is None]
    if not unsent:
        return Sent(
            remote_id=f"{len(rows)} e-mail{'s' if len(rows) != 1 else ''}",
            http_status=None,
            note=f"Sent to {', '.join(to for to, _sent, _error in rows)}.",
        )
    first = unsent[0][1] or "not sent yet"
    return Failed(
        f"{len(unsent)} of {len(rows)} e-mails not sent yet ({unsent[0][0]}: {first}); the rest stay "
        "sent and are not sent again.",
        retry=True,
    )
