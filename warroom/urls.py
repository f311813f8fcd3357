from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from incidents import views as incident_views

admin.site.site_header = "War Room configuration"
admin.site.site_title = "War Room admin"

urlpatterns = [
    path("", include("incidents.urls")),
    path("", include("incidents.reviews.urls")),
    path("playbooks/", include("incidents.playbooks.urls")),
    path("", include("incidents.listening.urls")),
    path("accounts/profile/", incident_views.profile, name="profile"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", incident_views.healthz, name="healthz"),
]
