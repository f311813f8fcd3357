from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# Checked in order: Edge and Opera say "Chrome" too, Chrome says "Safari" too.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("python-requests", "a script"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


class SignedInSession(models.Model):
    """One browser signed in as a person: what the "Active sessions" page lists and "sign out everywhere else"
    ends. Django's session rows cannot be searched by user (the user id is inside the encoded data)."""

    session_key = models.CharField(max_length=40, unique=True, verbose_name=_("session key"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in", verbose_name=_("user")
    )
    user_agent = models.CharField(max_length=300, blank=True, verbose_name=_("user agent"))
    address = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("address"))
    signed_in_at = models.DateTimeField(verbose_name=_("signed in at"))
    last_seen_at = models.DateTimeField(verbose_name=_("last seen at"))

    class Meta:
        verbose_name = _("signed-in session")
        indexes = [models.Index(fields=["user", "-last_seen_at"])]
        verbose_name_plural = _("signed-in sessions")

    def __str__(self) -> str:
        return f"{self.user_id} · {self.user_agent[:40]}"

    @property
    def device(self) -> str:
        """ "Firefox on Windows": enough to recognise one's own browsers (the full string is in a tooltip)."""
        ua = self.user_agent
        browser = next(
            (name for token, name in _BROWSERS if token in ua),
            "",
        )
        system = next((name for token, name in _SYSTEMS if token in ua), "")
        if browser and system:
            return str(_("%(browser)s on %(system)s") % {"browser": browser, "system": system})
        return browser or system or str(_("Unknown browser"))
