from __future__ import annotations

from django.urls import path

from incidents.accounts import passkeys, views

app_name = "accounts"

urlpatterns = [
    path("second-factor/verify/", views.verify, name="verify"),
    path("second-factor/enrol/", views.enrol, name="enrol"),
    path("second-factor/recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("security/", views.security, name="security"),
    path("security/sign-out-others/", views.sign_out_others, name="sign-out-others"),
    path("security/passkeys/register/begin/", passkeys.register_begin, name="passkey-register-begin"),
    path(
        "security/passkeys/register/complete/", passkeys.register_complete, name="passkey-register-complete"
    ),
    path("security/passkeys/<int:pk>/rename/", passkeys.rename, name="passkey-rename"),
    path("security/passkeys/<int:pk>/remove/", passkeys.remove, name="passkey-remove"),
    # Open to a password-only session (the gate lets it through): the second step of signing in.
    path("second-factor/passkey/begin/", passkeys.authenticate_begin, name="passkey-auth-begin"),
    path("second-factor/passkey/complete/", passkeys.authenticate_complete, name="passkey-auth-complete"),
]
