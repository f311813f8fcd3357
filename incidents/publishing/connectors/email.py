"""E-mail to a distribution list (press release, customers), through the base app's SMTP outbox.

One outbox row per address, keyed "publish:<delivery key>:<n>" (unique: a repeated attempt adds nothing), the
statement's title as subject and its exact text as the body. The rows are committed first, then this attempt
sends exactly those rows (SKIP LOCKED, as every outbox sender) and reports how many have gone; rows already
sent are never sent again. Like every outbox e-mail, a worker killed between the SMTP server accepting a
message and its row being marked sent would send that one message again: SMTP has no idempotency key.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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
        return Failed(
            _("%(name)s has no addresses; an administrator adds them.") % {"name": connector.name},
            checked=True,
        )
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
            remote_id=ngettext("%(n)d e-mail", "%(n)d e-mails", len(rows)) % {"n": len(rows)},
            http_status=None,
            note=_("Sent to %(addresses)s.") % {"addresses": ", ".join(to for to, _sent, _error in rows)},
        )
    first = unsent[0][1] or _("not sent yet")
    return Failed(
        _(
            "%(unsent)d of %(total)d e-mails not sent yet (%(address)s: %(why)s); the rest stay sent and are not "
            "sent again."
        )
        % {"unsent": len(unsent), "total": len(rows), "address": unsent[0][0], "why": first},
        retry=True,
    )
