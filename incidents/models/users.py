"""People: the user model (e-mail login, organisation role, time zone). Imports nothing else of the project."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in _zone_names():
        raise ValidationError(
            _("“%(value)s” is not a known time zone (use a name like Europe/Warsaw)."),
            params={"value": value},
        )


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(_zone_names()) if "/" in name or name == "UTC"]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("org_role", OrgRole.ADMINISTRATOR)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Emails are stored lower-case; logging in as "Anna@Example.com" must still work.
        return self.get(email__iexact=username or "")


class OrgRole(models.TextChoices):
    ADMINISTRATOR = "administrator", _("Administrator")
    CRISIS_MANAGER = "crisis_manager", _("Crisis manager")
    MEMBER = "member", _("Member")


class User(AbstractBaseUser, PermissionsMixin):
    """A crisis team member. Email is the login; the display name is what colleagues see."""

    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(max_length=120, verbose_name=_("display name"))
    phone = models.CharField(
        max_length=40,
        blank=True,
        help_text=_("Reachable number during an incident."),
        verbose_name=_("phone"),
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone], verbose_name=_("time zone")
    )
    # The interface language (one of settings.LANGUAGES); blank follows the browser. Also the language of
    # this person's notifications, e-mails and reminders (incidents.services.notify).
    language = models.CharField(
        _("language"),
        max_length=8,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Blank: as your browser asks."),
    )
    org_role = models.CharField(
        max_length=20, choices=OrgRole.choices, default=OrgRole.MEMBER, verbose_name=_("org role")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    is_staff = models.BooleanField(
        default=False, help_text=_("May log in to the configuration admin."), verbose_name=_("is staff")
    )
    date_joined = models.DateTimeField(default=timezone.now, verbose_name=_("date joined"))

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        ordering = ["display_name"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.email

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.display_name.split(" ")[0] if self.display_name else self.email

    @property
    def is_administrator(self) -> bool:
        """Configuration administrator of the organisation (the audit log, settings)."""
        return self.is_active and self.org_role == OrgRole.ADMINISTRATOR

    @property
    def initials(self) -> str:
        words = [w for w in self.display_name.split() if w]
        return "".join(w[0] for w in words[:2]).upper() or self.email[:2].upper()
