from __future__ import annotations

from django.urls import path

from incidents.accounts import views

app_name = "accounts"

urlpatterns = [
    path("second-factor/verify/", views.verify, name="verify"),
    path("second-factor/enrol/", views.enrol, name="enrol"),
    path("second-factor/recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("security/", views.security, name="security"),
    path("security/sign-out-others/", views.sign_out_others, name="sign-out-others"),
]
