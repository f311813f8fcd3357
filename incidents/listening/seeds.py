"""Seeded reply templates for the response queue (created only when missing, so admin edits are kept)."""

from __future__ import annotations

from typing import Any

REPLY_TEMPLATES: list[tuple[str, str]] = [
    (
        "Acknowledge and move to DM",
        "We're sorry about this and we want to put it right. Could you send us a direct message with your "
        "order number? We'll look into it straight away.",
    ),
    (
        "Point to the latest update",
        "Thank you for raising this. We've shared what we know and what we're doing here: {link}. "
        "We'll post the next update as soon as we have one.",
    ),
    (
        "Refund / double charge",
        "We're sorry — you will not pay twice. Duplicate charges are being refunded automatically within "
        "5 working days. If you don't see it by then, message us and we'll chase it for you.",
    ),
    (
        "Correct a rumour",
        "Thanks for asking rather than sharing. This isn't accurate: {fact}. The full facts are here: {link}.",
    ),
]


def ensure_reply_templates(model: Any = None) -> None:
    if model is None:
        from incidents.listening.models import ReplyTemplate as model
    for name, text in REPLY_TEMPLATES:
        model.objects.get_or_create(name=name, defaults={"text": text, "language": "en"})
