"""Template context every page gets (organisation name, the viewer's time zone). Imports settings only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def warroom(request: HttpRequest) -> dict[str, Any]:
    return {
        "ORGANISATION_NAME": settings.ORGANISATION_NAME,
        "VIEWER_TIME_ZONE": timezone.get_current_timezone_name(),
    }
