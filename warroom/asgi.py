"""ASGI entry point for the events process (uvicorn).

Paths under /events/ are answered by a thin raw-ASGI app dispatched *before* Django's handler: under
Django's handler every open stream would pin an OS thread and possibly a DB connection for its whole life
(performance-anchors §1.2). Everything else falls through to Django, so the same process can also serve
pages in tests and on a laptop.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "warroom.settings")

django_application = get_asgi_application()

from warroom.events import Receive, Scope, Send, events_app  # noqa: E402  (needs Django set up)


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http" and scope["path"].startswith("/events/"):
        await events_app(scope, receive, send)
        return
    await django_application(scope, receive, send)  # type: ignore[arg-type]  # asgiref's narrower aliases
