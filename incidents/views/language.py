"""The language switcher and the scripts' string catalogue.

The switcher saves a signed-in person's choice on their profile (so that their e-mails and reminders follow
it too) and, for everyone, in the language cookie that LocaleMiddleware reads before login.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.i18n import JavaScriptCatalog

from incidents.models import User

_CODES = frozenset(code for code, _name in settings.LANGUAGES)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """POST language (one of settings.LANGUAGES, or blank: follow the browser) and next (a local URL)."""
    language = request.POST.get("language", "")
    target = request.POST.get("next", "") or request.headers.get("referer", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    if language and language not in _CODES:
        # Nothing changes on an unknown code; the page comes back as it was.
        return response
    user = request.user
    if isinstance(user, User) and user.is_authenticated:
        user.language = language
        user.save(update_fields=["language"])
    if language:
        translation.activate(language)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite="Lax",  # settings.LANGUAGE_COOKIE_SAMESITE, as a literal for the type checker
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH)
    return response


# static/js strings: an external script from our own origin (CSP allows 'self'), which defines
# django.gettext/ngettext/interpolate for the active language; static/js/app.js wraps them.
javascript_catalog = JavaScriptCatalog.as_view(domain="djangojs")
