"""Demo logins. No Django imports: the `make run` launcher prints these before Django is set up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

DEMO_PASSWORD = "warroom-demo-2026"

# (email, display name, what they do) — printed by `make run`.
DEMO_USERS: list[tuple[str, str, str]] = [
    ("maja@northwind.example", "Maja Kowalska", "Crisis manager, usually incident commander"),
    ("erik@northwind.example", "Erik Lindqvist", "Communications lead"),
    ("priya@northwind.example", "Priya Raman", "Legal counsel"),
    ("daniel@northwind.example", "Daniel Okafor", "Chief executive (approver)"),
    ("sofia@northwind.example", "Sofia Petrova", "Social media manager"),
    ("admin@northwind.example", "Ops Admin", "Administrator (configuration admin)"),
]


# The demo's second factor: each demo login has an authenticator key derived from its e-mail (published, like
# the password), so `manage.py demo_code <email>` (or `make code EMAIL=...`) prints the code an app would show,
# without a phone and without the database.
TOTP_STEP = 30


def demo_totp_key(email: str) -> bytes:
    return hashlib.sha256(f"warroom-demo-totp:{email.strip().lower()}".encode()).digest()[:20]


def demo_totp_secret(email: str) -> str:
    """The key in base32, for typing into a real authenticator app."""
    return base64.b32encode(demo_totp_key(email)).decode().rstrip("=")


def demo_code(email: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits) — what django-otp's TOTP device with this key accepts."""
    counter = int((time.time() if at is None else at) // TOTP_STEP)
    digest = hmac.new(demo_totp_key(email), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"
