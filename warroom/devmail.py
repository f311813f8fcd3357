"""Development e-mail: every message appended, readable, to one file (EMAIL_FILE_PATH/outbox.txt); nothing sent.

The default backend when DEBUG is on, and what `make run` uses (its banner prints the path; `tail -f` it).
The terminal stays free for what matters: seeding alone queues hundreds of e-mails.
"""

from __future__ import annotations

import fcntl
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

MAILBOX_NAME = "outbox.txt"
SEPARATOR = "=" * 78


def mailbox_path() -> Path:
    return Path(settings.EMAIL_FILE_PATH) / MAILBOX_NAME


def render(message: EmailMessage) -> str:
    """Headers a person reads (decoded), the plain-text body, and what else the message carried."""
    lines = [
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"From: {message.from_email}",
        f"To: {', '.join(message.to)}",
    ]
    if message.cc:
        lines.append(f"Cc: {', '.join(message.cc)}")
    if message.bcc:
        lines.append(f"Bcc: {', '.join(message.bcc)}")
    lines.append(f"Subject: {message.subject}")
    extra = [f"{name}: {value}" for name, value in message.extra_headers.items()]
    lines += [*extra, "", str(message.body).rstrip()]
    alternatives = getattr(message, "alternatives", None) or []
    for alternative in alternatives:
        lines.append(f"[+ alternative part: {alternative[1]}]")
    for attachment in message.attachments:
        name = attachment[0] if isinstance(attachment, tuple) else attachment.get_filename()
        lines.append(f"[+ attachment: {name}]")
    return "\n".join([*lines, SEPARATOR, ""])


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        text = "".join(render(message) for message in email_messages)
        path = mailbox_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as mailbox:
                # The worker's pool processes write at the same time: one lock per batch keeps each whole.
                fcntl.flock(mailbox, fcntl.LOCK_EX)
                mailbox.write(text)
                mailbox.flush()
        except OSError:
            if not self.fail_silently:
                raise
            return 0
        return len(email_messages)
