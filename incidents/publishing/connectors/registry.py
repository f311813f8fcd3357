"""Which module sends for which kind of connector, and the checks every kind shares."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _

from incidents.publishing.connectors.base import Failed, Outcome, Parcel
from incidents.publishing.connectors.bluesky import send as bluesky_send
from incidents.publishing.connectors.email import send as email_send
from incidents.publishing.connectors.mastodon import send as mastodon_send
from incidents.publishing.connectors.webhook import send as webhook_send
from incidents.publishing.models import ConnectorKind

SENDERS: dict[str, Callable[[Parcel, str], Outcome]] = {
    ConnectorKind.MASTODON: mastodon_send,
    ConnectorKind.BLUESKY: bluesky_send,
    ConnectorKind.EMAIL: email_send,
    ConnectorKind.WEBHOOK: webhook_send,
}


def send(parcel: Parcel) -> Outcome:
    """Send, or say why not. Never raises for what a platform or the network does."""
    connector = parcel.connector
    if not connector.is_active:
        return Failed(
            _("%(name)s has been switched off by an administrator; nothing was sent.")
            % {"name": connector.name},
            checked=True,
        )
    secret = connector.secret()
    if connector.needs_secret and not secret:
        return Failed(
            _(
                "%(name)s has no credentials: an administrator sets %(setting)s (or %(setting)s_FILE). Nothing was sent."
            )
            % {"name": connector.name, "setting": connector.secret_env},
            checked=True,
        )
    return SENDERS[connector.kind](parcel, secret)
