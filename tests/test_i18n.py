"""Languages: complete catalogues, pages without English in pl/ru/sv, the switcher, mail in the recipient's language."""

from __future__ import annotations

import re
from pathlib import Path

import polib  # type: ignore[import-untyped]
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from incidents.models import Notification, OutboundEmail
from incidents.services.notify import notify
from incidents.timetext import local
from tests.factories import IncidentFactory, UserFactory, give_role
from warroom.compilemessages import compile_po

LOCALE = Path(settings.BASE_DIR) / "locale"
LOCALES = ["pl", "ru", "sv"]
PLURALS = {"pl": 3, "ru": 3, "sv": 2}
# Placeholders that must survive translation unchanged: %(name)s, %s, {name} (the scripts' hints), HTML tags.
PLACEHOLDER = re.compile(r"%\(\w+\)[sdrf]|%\(\w+\)\.\d+f|%[sdr]|\{\w*\}|</?[a-z]+\b[^>]*>")

# English interface words that must not appear on a page in another language (names and data excepted).
ENGLISH_UI = [
    "Declare incident",
    "Open incidents",
    "My incidents",
    "My due items",
    "My approvals",
    "Notifications",
    "Timeline",
    "Statements",
    "New statement",
    "Add to timeline",
    "Deadlines",
    "Team",
    "Past incidents",
    "Playbooks",
    "Log out",
    "Skip to content",
    "Skip to timeline",
    "Skip to statements",
    "new activity",
    "Times are shown in",
    "Sign-in and sessions",
    "Where we stand",
    "Write the summary",
    "Active sessions",
    "Sign out everywhere else",
    "Second factor",
    "Commander:",
]
# Words that are the same in the other language ("Team" is Swedish too).
SAME_IN = {"sv": {"Team"}}


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogues():
    """`make install` compiles the catalogues; a bare pytest run after a .po change must not read stale ones."""
    for po in LOCALE.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            compile_po(po)
    translation.trans_real._translations.clear()  # type: ignore[attr-defined]  # reload what was compiled
    return


# --- the catalogues --------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LOCALES)
@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_catalogue_is_complete_and_keeps_placeholders(lang, domain):
    catalogue = polib.pofile(str(LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"))
    entries = [e for e in catalogue if not e.obsolete]
    assert entries, "the catalogue is empty: run makemessages"
    assert catalogue.untranslated_entries() == []
    assert catalogue.fuzzy_entries() == []
    assert f"nplurals={PLURALS[lang]};" in catalogue.metadata["Plural-Forms"]
    wrong = []
    for entry in entries:
        if entry.msgid_plural:
            assert len(entry.msgstr_plural) == PLURALS[lang], entry.msgid
            forms = list(entry.msgstr_plural.values())
            allowed = [
                sorted(PLACEHOLDER.findall(entry.msgid)),
                sorted(PLACEHOLDER.findall(entry.msgid_plural)),
            ]
        else:
            forms = [entry.msgstr]
            allowed = [sorted(PLACEHOLDER.findall(entry.msgid))]
        for form in forms:
            if not form.strip() or sorted(PLACEHOLDER.findall(form)) not in allowed:
                wrong.append((entry.msgid, form))
    assert wrong == []


def test_placeholder_check_catches_a_lost_placeholder():
    """The check above is not vacuous: a translation that drops %(ref)s or a tag does not pass it."""
    msgid = "Changes in %(ref)s <strong>%(title)s</strong>."
    assert sorted(PLACEHOLDER.findall("Zmiany w %(title)s.")) != sorted(PLACEHOLDER.findall(msgid))
    assert sorted(PLACEHOLDER.findall("Zmiany w %(ref)s <strong>%(title)s</strong>.")) == sorted(
        PLACEHOLDER.findall(msgid)
    )


# --- pages in the person's language ------------------------------------------------------------------------


def _english_left(html: str, lang: str = "en") -> list[str]:
    text = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)  # text nodes only: ids, classes and URLs are not interface words
    words = [word for word in ENGLISH_UI if word not in SAME_IN.get(lang, set())]
    return [word for word in words if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)]


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LOCALES)
def test_dashboard_and_room_have_no_english_interface_words(client, lang):
    person = UserFactory.create(display_name="Anna Nowak", language=lang, org_role="crisis_manager")
    incident = IncidentFactory.create(declared_by=person, title="Kasa pobrała opłatę dwukrotnie")
    client.force_login(person)
    dashboard = client.get(reverse("incidents:dashboard"))
    room = client.get(reverse("incidents:room", args=[incident.code]))
    assert dashboard.status_code == room.status_code == 200
    assert dashboard["Content-Language"] == lang
    assert f'<html lang="{lang}">' in dashboard.content.decode()
    assert _english_left(dashboard.content.decode(), lang) == []
    assert _english_left(room.content.decode(), lang) == []


@pytest.mark.django_db
def test_the_same_pages_in_english_do_have_those_words(client):
    """The word list above is not vacuous: an English person's room shows them."""
    person = UserFactory.create(language="en", org_role="crisis_manager")
    incident = IncidentFactory.create(declared_by=person)
    client.force_login(person)
    html = client.get(reverse("incidents:room", args=[incident.code])).content.decode()
    assert {
        "Timeline",
        "Statements",
        "Team",
        "Deadlines",
        "Where we stand",
        "Write the summary",
        "Skip to timeline",
        "Skip to statements",
        "new activity",
    } <= set(_english_left(html))
    security = client.get(reverse("accounts:security")).content.decode()
    assert {"Sign-in and sessions", "Active sessions", "Sign out everywhere else"} <= set(
        _english_left(security)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LOCALES)
def test_the_sign_in_and_sessions_page_speaks_the_persons_language(client, lang):
    person = UserFactory.create(language=lang)
    client.force_login(person)
    response = client.get(reverse("accounts:security"))
    assert response.status_code == 200
    assert _english_left(response.content.decode(), lang) == []


@pytest.mark.django_db
def test_before_login_the_browser_decides(client):
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="sv-SE,sv;q=0.9,en;q=0.5")
    assert page["Content-Language"] == "sv"
    assert "Logga in" in page.content.decode()
    english = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-GB")
    assert "Log in" in english.content.decode()


# --- the switcher ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_switcher_saves_the_language_on_the_profile(client):
    person = UserFactory.create(language="")
    client.force_login(person)
    page = client.get(reverse("incidents:dashboard"), HTTP_ACCEPT_LANGUAGE="en")
    assert 'name="language"' in page.content.decode()  # the switcher is in the menu
    response = client.post(
        reverse("set-language"), {"language": "ru", "next": reverse("incidents:dashboard")}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents:dashboard")
    person.refresh_from_db()
    assert person.language == "ru"
    # The profile wins over what the browser asks for.
    page = client.get(reverse("incidents:dashboard"), HTTP_ACCEPT_LANGUAGE="en")
    assert page["Content-Language"] == "ru"
    assert "Открытые инциденты" in page.content.decode()
    # Blank goes back to following the browser.
    client.post(reverse("set-language"), {"language": "", "next": "/"})
    person.refresh_from_db()
    assert person.language == ""
    assert client.get(reverse("incidents:dashboard"), HTTP_ACCEPT_LANGUAGE="pl")["Content-Language"] == "pl"


@pytest.mark.django_db
def test_switcher_refuses_an_unknown_language_and_a_foreign_next(client):
    person = UserFactory.create(language="sv")
    client.force_login(person)
    response = client.post(reverse("set-language"), {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    person.refresh_from_db()
    assert person.language == "sv"  # nothing changed


@pytest.mark.django_db
def test_switcher_needs_the_csrf_token(person_client_csrf):
    client, person = person_client_csrf
    response = client.post(reverse("set-language"), {"language": "pl", "next": "/"})
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.language == ""


@pytest.fixture
def person_client_csrf(db):
    from django.test import Client

    person = UserFactory.create(language="")
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)
    return client, person


# --- mail and notifications in the recipient's language ------------------------------------------------------


@pytest.mark.django_db
def test_a_polish_speaker_gets_the_team_notification_and_email_in_polish(manager):
    polish = UserFactory.create(display_name="Anna Nowak", email="anna@example.com", language="pl")
    swedish = UserFactory.create(display_name="Erik Berg", email="erik@example.com", language="sv")
    incident = IncidentFactory.create(declared_by=manager, title="Awaria kasy")
    with translation.override("en"):  # whoever acts, in whatever language, each recipient reads their own
        give_role(incident, polish, "legal", actor=manager)
        give_role(incident, swedish, "legal", actor=manager)
    note = Notification.objects.get(recipient=polish)
    assert "dodał(a) cię do" in note.text
    mail = OutboundEmail.objects.get(to="anna@example.com")
    assert mail.body.startswith("Dzień dobry, Anna,")
    assert "Otwórz pokój kryzysowy:" in mail.body
    assert "Hello" not in mail.body
    swedish_mail = OutboundEmail.objects.get(to="erik@example.com")
    assert swedish_mail.body.startswith("Hej Erik,")


@pytest.mark.django_db
def test_a_drill_notification_is_marked_in_the_recipients_language(manager):
    russian = UserFactory.create(email="ivan@example.com", language="ru", time_zone="UTC")
    incident = IncidentFactory.create(declared_by=manager, is_drill=True)
    notify(user=russian, incident=incident, text="2026-06-03 18:00 UTC", key="i18n-test")
    note = Notification.objects.get(recipient=russian)
    assert note.text == "[УЧЕНИЯ] 3 июн, 18:00 UTC"
    assert OutboundEmail.objects.get(key="i18n-test").subject.startswith("[УЧЕНИЯ] ")


def test_times_name_the_month_in_the_active_language():
    from datetime import UTC, datetime

    at = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    with translation.override("en"):
        assert local(at, UTC) == "5 Dec, 09:30 UTC"
    with translation.override("pl"):
        assert local(at, UTC) == "5 gru, 09:30 UTC"
    with translation.override("sv"):
        assert local(at, UTC) == "5 dec, 09:30 UTC"


@pytest.mark.django_db
def test_the_scripts_catalogue_follows_the_persons_language(client):
    person = UserFactory.create(language="pl")
    client.force_login(person)
    page = client.get(reverse("incidents:dashboard")).content.decode()
    assert f'<script src="{reverse("javascript-catalog")}" defer></script>' in page  # external: CSP-safe
    catalogue = client.get(reverse("javascript-catalog"))
    assert catalogue.status_code == 200
    assert "javascript" in catalogue["Content-Type"]
    body = catalogue.content.decode()
    assert "pokaż teraz" in body or "poka\\u017c teraz" in body  # "show it now", from static/js/statements.js
    assert "nplurals" in body or "pluralidx" in body


@pytest.mark.parametrize(
    ("lang", "forms"),
    [
        ("pl", {1: "1 zmiana", 3: "3 zmiany", 5: "5 zmian", 22: "22 zmiany"}),
        (
            "ru",
            {1: "1 изменение", 3: "3 изменения", 5: "5 изменений", 21: "21 изменение", 22: "22 изменения"},
        ),
        ("sv", {1: "1 ändring", 3: "3 ändringar"}),
    ],
)
def test_plural_forms_follow_the_language(lang, forms):
    """The catalogues' Plural-Forms reach the compiled files (a header dropped as fuzzy would lose them)."""
    from django.utils.translation import ngettext

    with translation.override(lang):
        for n, expected in forms.items():
            assert ngettext("%(n)s change", "%(n)s changes", n) % {"n": n} == expected  # the audit log's


@pytest.mark.parametrize(
    ("lang", "named"),
    [("en", "“Holding” (X"), ("pl", "„Holding” (X"), ("ru", "«Holding» (X"), ("sv", "”Holding” (X")],
)
def test_a_statement_named_in_a_sentence_has_the_languages_quotation_marks(lang, named):
    from incidents.models import Statement
    from incidents.models.statements import statement_label

    with translation.override(lang):
        assert statement_label(Statement(title="Holding", channel="x", audience="public")).startswith(named)


@pytest.mark.django_db
def test_the_author_reads_a_rejection_and_a_ready_statement_in_their_own_language():
    """The statement's label in a notification follows the recipient's language, not the approver's."""
    from incidents import services
    from incidents.models import ApprovalChainTemplate, ApprovalStepTemplate, IncidentRole, StatementTemplate
    from incidents.models.statement_seeds import ensure_statement_seeds
    from tests.factories_statements import approve, cv, fresh, make_cast, new_statement, submit

    ensure_statement_seeds(ApprovalChainTemplate, ApprovalStepTemplate, StatementTemplate, IncidentRole)
    cast = make_cast()
    cast.drafter.language = "pl"
    cast.drafter.save(update_fields=["language"])
    rejected = submit(cast, new_statement(cast))
    with translation.override("en"):
        services.statement_reject(
            statement=fresh(rejected), actor=cast.legal, version_number=cv(rejected).number, reason="No."
        )
    note = Notification.objects.get(recipient=cast.drafter, key__startswith="statement-rejected:")
    assert "„Holding statement”" in note.text
    ready = submit(cast, new_statement(cast, body="We are looking into it."))
    with translation.override("en"):
        for person in (cast.legal, cast.comms, cast.executive):
            approve(ready, person)
    note = Notification.objects.get(recipient=cast.drafter, key__startswith="statement-approved:")
    assert "„Holding statement”" in note.text


@pytest.mark.django_db
def test_notifying_several_people_at_once_writes_each_in_their_language_in_two_inserts(
    manager, django_assert_num_queries
):
    from incidents.services.notify import notification_for, notify_all

    people = [
        UserFactory.create(display_name=name, email=f"{name.lower()}@example.com", language=lang)
        for name, lang in (("Anna", "pl"), ("Erik", "sv"), ("Olga", "ru"))
    ]
    incident = IncidentFactory.create(declared_by=manager, title="Awaria kasy", is_drill=True)

    def messages():
        return [
            notification_for(user=p, incident=incident, text="Statement out.", url="/x/", key=f"out:{p.pk}")
            for p in people
        ]

    with django_assert_num_queries(2):  # the notifications, the e-mails
        notify_all(messages())
    texts = dict(Notification.objects.filter(incident=incident).values_list("recipient__language", "text"))
    assert texts == {
        "pl": "[ĆWICZENIE] Statement out.",
        "sv": "[ÖVNING] Statement out.",
        "ru": "[УЧЕНИЯ] Statement out.",
    }
    bodies = dict(OutboundEmail.objects.filter(key__startswith="out:").values_list("to", "body"))
    assert bodies["anna@example.com"].startswith("Dzień dobry, Anna,")
    assert bodies["erik@example.com"].startswith("Hej Erik,")
    notify_all(messages())  # the same causes again: nothing new
    assert Notification.objects.filter(incident=incident).count() == 3
    assert OutboundEmail.objects.filter(key__startswith="out:").count() == 3
