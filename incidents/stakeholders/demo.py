"""Demo stakeholder data (called from incidents/demo.py after the incidents exist): the checkout story's
register — a journalist with an answered enquiry and one still open, the payments partner told, a key customer
never told — through the real services. Idempotent: skipped when the story already has its journalist."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from incidents.models import Incident, User
from incidents.stakeholders.models import Stakeholder, StakeholderKind
from incidents.stakeholders.services import contact_log, enquiry_add, enquiry_close, stakeholder_add

STORY = "Checkout charged customers twice — #NorthwindFail trending"


def seed_demo_stakeholders(users: dict[str, User]) -> None:
    incident = Incident.objects.filter(title=STORY).first()
    if incident is None or Stakeholder.objects.filter(incident=incident, name="Anna Berg").exists():
        return
    erik, maja = users["erik@northwind.example"], users["maja@northwind.example"]
    anna = stakeholder_add(
        incident=incident,
        actor=erik,
        kind=StakeholderKind.JOURNALIST,
        name="Anna Berg",
        organisation="Dagens Nyheter",
        email="anna.berg@dn.example",
        phone="+46 8 555 123 45",
        preferred_channel="phone",
        owner=erik,
    )
    lars = stakeholder_add(
        incident=incident,
        actor=erik,
        kind=StakeholderKind.JOURNALIST,
        name="Lars Holm",
        organisation="Breakit",
        email="lars@breakit.example",
        owner=erik,
    )
    partner = stakeholder_add(
        incident=incident,
        actor=maja,
        kind=StakeholderKind.PARTNER,
        name="Payments partner desk",
        organisation="Klarna",
        email="incidents@klarna.example",
        owner=maja,
    )
    stakeholder_add(
        incident=incident,
        actor=maja,
        kind=StakeholderKind.KEY_CUSTOMER,
        name="Procurement",
        organisation="Outdoor Club Nordic (B2B)",
        email="buying@outdoorclub.example",
        owner=maja,
    )
    contact_log(
        incident=incident,
        actor=maja,
        stakeholder=partner,
        channel="phone",
        summary="Confirmed the duplicate captures come from our retry, not their side; they will fast-track refunds.",
        promise="Send the list of affected order numbers",
        promise_due_at=timezone.now() + timedelta(hours=1),
    )
    first = enquiry_add(
        incident=incident,
        actor=erik,
        journalist=anna,
        question="How many customers were charged twice, and when will they get the money back?",
        due_at=timezone.now() + timedelta(minutes=50),
    )
    enquiry_close(
        enquiry=first,
        actor=erik,
        summary="About 4,000 orders; refunds started automatically, most within 3 to 5 banking days.",
    )
    enquiry_add(
        incident=incident,
        actor=erik,
        journalist=lars,
        question="Was this a deployment? Which payment provider is involved?",
        due_at=timezone.now() + timedelta(hours=2),
    )
