from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy
from django.views.generic import RedirectView

from incidents import urls as incident_urls
from incidents import views as incident_views
from incidents.accounts import views as account_views
from incidents.playbooks import views as playbook_views
from incidents.reviews import views as review_views
from incidents.views import language as language_views

handler403 = "incidents.views.errors.forbidden"
handler404 = "incidents.views.errors.not_found"
handler500 = "incidents.views.errors.server_error"

admin.site.site_header = gettext_lazy("War Room configuration")
admin.site.site_title = gettext_lazy("War Room admin")

# The composition root: the base app never imports its sub-apps, so the two pages they serve under its names
# are routed here — declaring (by hand or from a playbook) by the playbooks app, the archive of past
# incidents by the reviews app.
incident_patterns = [
    path("incidents/declare/", playbook_views.declare, name="declare"),
    path("incidents/past/", review_views.archive, name="past"),
    *incident_urls.urlpatterns,
]

urlpatterns = [
    path("", include((incident_patterns, incident_urls.app_name))),
    path("", include("incidents.reviews.urls")),
    path("playbooks/", include("incidents.playbooks.urls")),
    path("audit/", include("incidents.audit.urls")),
    path("", include("incidents.listening.urls")),
    path("publishing/", include("incidents.publishing.urls")),
    path("", include("incidents.stakeholders.urls")),
    path("i18n/language/", language_views.set_language, name="set-language"),
    path("i18n/catalog.js", language_views.javascript_catalog, name="javascript-catalog"),
    path("accounts/profile/", incident_views.profile, name="profile"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    # Before Django's own: these end the person's other sessions, and password reset is throttled.
    path("accounts/password_change/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_reset/", account_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        account_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/", include("incidents.accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", incident_views.healthz, name="healthz"),
    # Pages link the SVG icon; browsers still ask for /favicon.ico on pages without that link (admin,
    # JSON, files). Lazy: the hashed static name is looked up per request, not when the URLconf loads
    # (before collectstatic has written the manifest); temporary, so a changed icon is not cached forever.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")), name="favicon"),
]
