"""What the publishing app answers when the base app asks (incidents.hooks); connected in PublishingConfig.ready().

May import the base app's models and this app's models.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _

from incidents.models import Statement, StatementError
from incidents.publishing.models import Delivery, DeliveryState
from incidents.services.timeline import organisation_language


def hold_while_sending(*, statement: Statement, change: str) -> None:
    """Called with the statement locked, before a new version or a withdrawal. While its approved text is on
    its way to a channel, editing is refused; withdrawing cancels what never started and waits for what is
    being sent (it may be out already). A delivery that may have gone out ("needs checking") holds edits too:
    the statement would otherwise be a draft while its old text is on a platform."""
    deliveries = Delivery.objects.filter(statement=statement)
    if change == "withdraw":
        with organisation_language():  # stored on the delivery, read by every publisher
            error = _("Cancelled: the statement was withdrawn before it went out.")
        deliveries.filter(
            Q(state=DeliveryState.QUEUED, uncertain=False) | Q(state=DeliveryState.FAILED)
        ).update(state=DeliveryState.CANCELLED, error=error)
        busy = list(deliveries.filter(state__in=Delivery.IN_FLIGHT).select_related("connector"))
    else:
        busy = list(deliveries.filter(state__in=Delivery.UNSETTLED).select_related("connector"))
    if busy:
        names = ", ".join(d.connector.name for d in busy)
        if change == "withdraw":
            raise StatementError(
                _(
                    "It is being sent to %(names)s right now and may already be out. Wait until the delivery "
                    "has finished (seconds), then withdraw it. Nothing was changed."
                )
                % {"names": names}
            )
        raise StatementError(
            _(
                "This version is being published to %(names)s. Wait until it has gone out, or cancel what is "
                "still queued; a delivery that needs checking must be settled first. Nothing was changed."
            )
            % {"names": names}
        )
