"""Demo reviews for the demo's resolved and closed incidents (called from incidents/demo.py after seeding).

Written through the same services as the page, so the demo shows exactly what a real review looks like:
findings, follow-up actions on the deadlines machinery, feedback, and for the closed incident a sign-off.
Idempotent: a review that already has a summary is left alone.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from incidents.models import Incident, RoleAssignment, Status, User
from incidents.reviews.models import ReviewSection, SectionKey
from incidents.reviews.services import (
    feedback_save,
    follow_up_add,
    follow_up_complete,
    review_open,
    review_section_save,
    review_sign_off,
)

_REVIEWS: dict[str, dict[str, object]] = {
    "Viral complaint: winter boots splitting after two weeks": {
        "sections": {
            SectionKey.SUMMARY: (
                "A vlogger's video of split soles on our winter boots reached 1.2M views within a day. Batch "
                "23-41 had a glue defect. We apologised publicly, offered free replacement and published a batch "
                "checker; sentiment recovered within three days."
            ),
            SectionKey.WENT_WELL: (
                "Quality confirmed the batch within an hour, so the first statement could be specific.\n"
                "The batch checker on the website cut support contacts by half on day two."
            ),
            SectionKey.WENT_BADLY: (
                "The first public response took longer than the SEV2 target: Legal was in a workshop and had no "
                "backup named.\nInstagram comments were left unanswered overnight."
            ),
            SectionKey.LESSONS: (
                "Every approval role needs a named backup before an incident, not during it.\n"
                "Keep a pre-approved product-defect holding statement so the first response needs one approval."
            ),
        },
        "follow_ups": [
            ("Name a backup for every Legal approver in the role catalogue", 7, False),
            ("Write and pre-approve a product-defect holding statement template", 14, False),
        ],
        "feedback": [
            (4, "Clear roles once we got going; the first hour was slow."),
            (3, "Too many pings overnight."),
        ],
        "sign_off": False,
    },
    "Store manager's rant filmed by a customer": {
        "sections": {
            SectionKey.SUMMARY: (
                "A customer filmed a store manager shouting at a teenage employee; the clip spread on TikTok. "
                "The manager was suspended pending review and we said so publicly the same afternoon."
            ),
            SectionKey.WENT_WELL: "HR and Communications agreed the wording in one pass; no statement revisions needed.",
            SectionKey.WENT_BADLY: "The store's regional manager learned about it from the news.",
            SectionKey.LESSONS: "Tell the regional chain of command before anything goes out publicly.",
        },
        "follow_ups": [("Add regional managers to the conduct playbook's first-hour checklist", 10, True)],
        "feedback": [(5, "Fast and calm.")],
        "sign_off": True,
    },
}


def _participants(incident: Incident) -> list[User]:
    ids = RoleAssignment.objects.filter(incident=incident).values_list("user_id", flat=True)
    return list(User.objects.filter(pk__in=ids, is_active=True).order_by("pk"))


def seed_demo_reviews() -> int:
    """Fill the reviews of the demo's resolved and closed incidents; returns how many were filled."""
    filled = 0
    now = timezone.now()
    for title, plan in _REVIEWS.items():
        incident = Incident.objects.filter(title=title, status__in=[Status.RESOLVED, Status.CLOSED]).first()
        if incident is None or incident.commander is None:
            continue
        commander = incident.commander
        review = review_open(incident=incident, actor=commander)
        if (
            review.is_locked
            or ReviewSection.objects.filter(review=review, key=SectionKey.SUMMARY).exclude(text="").exists()
        ):
            continue
        sections = plan["sections"]
        assert isinstance(sections, dict)
        for key, text in sections.items():
            current = ReviewSection.objects.get(review=review, key=key)
            review_section_save(
                review=review, key=key, actor=commander, text=text, expected_version=current.version
            )
        people = _participants(incident)
        follow_ups = plan["follow_ups"]
        assert isinstance(follow_ups, list)
        for n, (action, days, done) in enumerate(follow_ups):
            owner = people[n % len(people)]
            item = follow_up_add(
                review=review, actor=commander, title=action, owner=owner, due_at=now + timedelta(days=days)
            )
            if done:
                follow_up_complete(follow_up=item, actor=owner)
        feedback = plan["feedback"]
        assert isinstance(feedback, list)
        for person, (rating, comment) in zip(people, feedback, strict=False):
            feedback_save(review=review, actor=person, rating=rating, comment=comment)
        if plan["sign_off"]:
            review_sign_off(review=review, actor=commander)
        filled += 1
    return filled
