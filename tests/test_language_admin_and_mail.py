"""Language (issue #19): the password-reset mail goes in the recipient's language, the admin's model and field
names are translations, and the timeline sentences publishing and listening write are built in the
organisation's language whoever caused them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.forms import PasswordResetForm
from django.core import mail
from django.db import models
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import trans_real

from incidents.listening.ingest import ingest
from incidents.listening.services import alerts as alert_services
from incidents.listening.services.alerts import alert_declare
from incidents.listening.spikes import check_watch
from incidents.models import OrgRole
from incidents.publishing import delivery as delivery_module
from incidents.publishing import services as publishing_services
from incidents.publishing.connectors import Failed
from incidents.publishing.models import Connector, DeliveryState
from tests.factories import UserFactory
from tests.factories_listening import make_source, make_watch, record
from tests.factories_publishing import of, release, run_all
from tests.factories_publishing import platforms as platforms
from tests.factories_statements import cast as cast
from tests.factories_statements import fully_approved
from tests.factories_statements import seeded as seeded

pytestmark = pytest.mark.django_db

# What gettext and gettext_lazy call for each message: the active language's catalogue.
GETTEXT = "django.utils.translation._trans.gettext"
OUR_APPS = [
    "incidents",
    "accounts",
    "playbooks",
    "reviews",
    "audit",
    "listening",
    "publishing",
    "stakeholders",
]


# --- the password-reset mail --------------------------------------------------------------------------------


@pytest.fixture
def reset_renders(monkeypatch) -> list[str]:
    """The language active each time Django's reset form renders and sends a mail."""
    seen: list[str] = []
    original = PasswordResetForm.send_mail

    def spy(self: PasswordResetForm, *args: Any, **kwargs: Any) -> None:
        seen.append(translation.get_language())
        original(self, *args, **kwargs)

    monkeypatch.setattr(PasswordResetForm, "send_mail", spy)
    return seen


def test_the_reset_mail_is_in_the_recipient_s_language_and_the_page_in_the_browser_s(client, reset_renders):
    person = UserFactory.create(display_name="Sven Ek", email="sven@example.com", language="sv")
    answer = client.post(
        reverse("password_reset"), {"email": person.email}, HTTP_ACCEPT_LANGUAGE="en", follow=True
    )
    assert answer.status_code == 200
    assert answer["Content-Language"] == "en"
    assert reset_renders == ["sv"]
    (message,) = mail.outbox
    with translation.override("sv"):
        subject = render_to_string("registration/password_reset_subject.txt").strip()
        greeting = render_to_string(
            "registration/password_reset_email.html", {"user": person, "uid": "x", "token": "y"}
        ).splitlines()[0]
    assert message.subject == subject
    assert message.body.splitlines()[0] == greeting
    assert translation.get_language() == "en"  # the override ended with the mail


def test_without_a_profile_language_the_mail_follows_the_browser(client, reset_renders):
    person = UserFactory.create(email="nolang@example.com", language="")
    client.post(reverse("password_reset"), {"email": person.email}, HTTP_ACCEPT_LANGUAGE="pl")
    assert reset_renders == ["pl"]
    assert len(mail.outbox) == 1


def test_an_unknown_address_gets_no_mail_and_the_same_page(client, reset_renders):
    known = UserFactory.create(email="known@example.com", language="sv")
    answers = [
        client.post(reverse("password_reset"), {"email": email}, HTTP_ACCEPT_LANGUAGE="en")
        for email in ("nobody@example.com", known.email)
    ]
    assert {(a.status_code, a["Location"]) for a in answers} == {(302, reverse("password_reset_done"))}
    assert reset_renders == ["sv"]  # only the known address was mailed
    assert [m.to for m in mail.outbox] == [[known.email]]


# --- the admin ----------------------------------------------------------------------------------------------


def _inherited_from_elsewhere(model: type[models.Model]) -> set[str]:
    """Fields a third-party abstract parent declares (guardian's permission and user): not ours to name."""
    names: set[str] = set()
    for base in model.__mro__[1:]:
        meta = getattr(base, "_meta", None)
        if meta is not None and meta.abstract and not base.__module__.startswith("incidents."):
            names |= {f.name for f in meta.local_fields}
    return names


def test_every_model_and_field_name_is_a_translation():
    untranslated = []
    for label in OUR_APPS:
        for model in apps.get_app_config(label).get_models():
            meta = model._meta
            for what in ("verbose_name", "verbose_name_plural"):
                if not isinstance(getattr(meta, what), Promise):
                    untranslated.append(f"{model.__name__}.Meta.{what}")
            foreign = _inherited_from_elsewhere(model)
            for field in meta.get_fields():
                if not getattr(field, "concrete", False) or field.auto_created or field.name in foreign:
                    continue
                if isinstance(field, models.AutoField):
                    continue
                if not isinstance(field.verbose_name, Promise):  # type: ignore[union-attr]
                    untranslated.append(f"{model.__name__}.{field.name}")
                help_text = getattr(field, "help_text", "")
                if help_text and not isinstance(help_text, Promise):
                    untranslated.append(f"{model.__name__}.{field.name} (help text)")
    assert untranslated == []


def test_the_names_follow_the_active_language():
    """Lazy, so each render says them in the reader's language: a stand-in catalogue answers for Polish."""
    meta = Connector._meta
    field = meta.get_field("name")

    def polish(message: str) -> str:
        return f"PL:{message}" if translation.get_language() == "pl" else message

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GETTEXT, polish)
        with translation.override("pl"):
            assert (str(meta.verbose_name), str(meta.verbose_name_plural)) == (
                "PL:connector",
                "PL:connectors",
            )
            assert str(field.verbose_name) == "PL:name"
        assert str(meta.verbose_name) == "connector"


@pytest.mark.parametrize(
    ("url", "model"),
    [
        ("/admin/publishing/connector/", "publishing.Connector"),
        ("/admin/incidents/responsepolicy/", "incidents.ResponsePolicy"),
    ],
)
def test_an_admin_changelist_in_polish_names_the_model_through_gettext(client, url, model):
    admin_user = UserFactory.create(
        is_staff=True, is_superuser=True, org_role=OrgRole.ADMINISTRATOR, language="pl"
    )
    client.force_login(admin_user)
    asked: list[str] = []
    original = trans_real.gettext  # what the patched attribute stands for

    def spy(message: str) -> str:
        if translation.get_language() == "pl":
            asked.append(message)
        return str(original(message))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GETTEXT, spy)
        page = client.get(url, HTTP_ACCEPT_LANGUAGE="pl")
    assert page.status_code == 200
    assert page["Content-Language"] == "pl"
    meta = apps.get_model(model)._meta
    with translation.override("en"):  # the msgids (the request left Polish active in this thread)
        english = (str(meta.verbose_name), str(meta.verbose_name_plural))
    assert {*english} <= {*asked}  # the page asked the Polish catalogue for the model's names
    with translation.override("pl"):
        assert str(meta.verbose_name_plural).capitalize() in page.content.decode()


# --- timeline sentences in the organisation's language -------------------------------------------------------


def _spy(monkeypatch, module: Any, name: str, seen: list[tuple[str, str]]) -> None:
    original: Callable[..., Any] = getattr(module, name)

    def spy(**kwargs: Any) -> Any:
        seen.append((translation.get_language(), kwargs.get("text") or kwargs.get("body") or ""))
        return original(**kwargs)

    monkeypatch.setattr(module, name, spy)


@pytest.fixture
def polish_organisation(settings) -> None:
    settings.LANGUAGE_CODE = "pl"


def test_publishing_and_its_result_are_written_in_the_organisation_s_language(
    cast, platforms, monkeypatch, polish_organisation
):
    seen: list[tuple[str, str]] = []
    _spy(monkeypatch, publishing_services, "timeline_record", seen)
    _spy(monkeypatch, delivery_module, "timeline_record", seen)
    cast.publisher.language = "en"
    cast.publisher.save(update_fields=["language"])
    statement = fully_approved(cast)
    with translation.override("en"):  # the publisher's request
        release(cast, statement, platforms.e)
    run_all()
    assert of(statement, platforms.e).state == DeliveryState.PUBLISHED
    texts = [text for _lang, text in seen]
    assert "Press list" in texts[0]  # the click
    assert any("Press list" in t for t in texts[1:])  # the result
    assert not any(re.search(r"v\d+ of .* to Press list", t) for t in texts)  # Polish, not the English msgid
    assert {lang for lang, _text in seen} == {"pl"}


def test_a_failed_delivery_is_written_in_the_organisation_s_language(
    cast, platforms, monkeypatch, polish_organisation
):
    seen: list[tuple[str, str]] = []
    _spy(monkeypatch, delivery_module, "timeline_record", seen)
    statement = fully_approved(cast)
    with translation.override("en"):
        release(cast, statement, platforms.e)
    connector_spoke_in: list[str] = []

    def refused(parcel: Any) -> Failed:
        # The connector's own words are stored on the delivery and quoted on the timeline: same language.
        connector_spoke_in.append(translation.get_language())
        return Failed("The server said no.", checked=True)

    monkeypatch.setattr(delivery_module, "send", refused)
    run_all()
    assert of(statement, platforms.e).state == DeliveryState.FAILED
    assert connector_spoke_in == ["pl"]
    assert [lang for lang, _text in seen] == ["pl"]
    assert "The server said no." in seen[0][1]


def test_declaring_from_a_spike_is_written_in_the_organisation_s_language(monkeypatch, polish_organisation):
    seen: list[tuple[str, str]] = []
    _spy(monkeypatch, alert_services, "timeline_record", seen)
    _spy(monkeypatch, alert_services, "timeline_append", seen)
    manager = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER, language="en")
    watch = make_watch("Northwind", name="Northwind brand")
    now = timezone.now()
    ingest(
        source=make_source(),
        records=[
            record(
                i,
                text=f"Northwind checkout is down, charged twice {i}",
                published_at=now - timedelta(minutes=i % 50),
                reach=100 * i,
                sentiment="negative",
            )
            for i in range(60)
        ],
    )
    [alert] = check_watch(watch)
    with translation.override("en"):  # the manager's request
        alert_declare(
            alert=alert,
            actor=manager,
            title="Checkout down",
            scenario="outage",
            severity="sev1",
            attach=alert.top_mentions[:1],
        )
    assert len(seen) == 2  # the declaration and one piece of evidence
    assert {lang for lang, _text in seen} == {"pl"}
