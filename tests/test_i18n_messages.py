"""Flash messages, form labels and form errors the views write in Python: in the person's language, names
inside the language's own quotation marks (the English literals these replaced were never translated)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone, translation

from incidents.models import Incident, InvalidTransition, Status
from incidents.models.statement_text import MAX_BODY, TextRefused, check_text
from incidents.playbooks.models import Playbook
from incidents.services.statements.common import quote
from tests.factories import IncidentFactory, give_role
from tests.factories_playbooks import HX, declare_post, make_people, make_playbook
from tests.test_i18n import _compiled_catalogues  # noqa: F401  (the catalogues compiled, as in test_i18n)

pytestmark = pytest.mark.django_db


@pytest.fixture
def playbook(manager) -> Playbook:
    return make_playbook(manager, make_people())


def _flashed(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_declaring_says_who_commands_in_polish(manager_client, manager):
    manager.language = "pl"
    manager.save(update_fields=["language"])
    response = manager_client.post(
        reverse("incidents:declare"), {"title": "Awaria kasy", "scenario": "outage", "severity": "sev2"}
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert _flashed(response) == [f"Ogłoszono {incident.reference}. Jesteś dowódcą incydentu."]


def test_the_declare_form_labels_and_errors_in_polish(manager_client, manager, playbook):
    manager.language = "pl"
    manager.save(update_fields=["language"])
    page = manager_client.get(reverse("incidents:declare"), {"playbook": str(playbook.code)}, **HX)
    assert "Zastępca dla roli" in page.content.decode()
    assert "Backup for" not in page.content.decode()
    slot = playbook.latest().roles.get(person__isnull=False, backup__isnull=False)
    future = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = declare_post(
        manager_client, playbook, detected_at=future, **{f"backup_{slot.pk}": slot.person.email}
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "Czas wykrycia nie może być w przyszłości." in html
    assert "Nikt nie może być własnym zastępcą." in html
    assert not Incident.objects.exists()


def test_playbook_flashes_name_it_in_swedish_quotation_marks(manager_client, manager, playbook):
    manager.language = "sv"
    manager.save(update_fields=["language"])
    response = manager_client.post(reverse("playbooks:duplicate", args=[playbook.code]))
    copy = Playbook.objects.get(name__startswith="Kopia av ")  # the copy is named in their language too
    assert _flashed(response) == [f"Duplicerad som ”{copy.name}”. Byt namn på den och anpassa den."]
    manager_client.post(reverse("playbooks:retire", args=[copy.code]), {"retire": "1"})
    response = manager_client.get(reverse("playbooks:edit", args=[copy.code]))
    assert response.status_code == 302
    retired = f"Handlingsplanen ”{copy.name}” är avslutad; återställ den innan du redigerar."
    assert retired in _flashed(response)


def test_the_task_form_refuses_and_confirms_in_polish(manager_client, manager, member, outsider):
    manager.language = "pl"
    manager.save(update_fields=["language"])
    incident = IncidentFactory.create(declared_by=manager)
    give_role(incident, member, "drafter")
    url = reverse("incidents:deadline-add", args=[incident.code])
    future = (timezone.localtime() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    for data, message in [
        ({"title": "", "owner": member.pk, "due_at": future}, "Napisz, co trzeba zrobić."),
        ({"title": "Zadzwoń", "owner": outsider.pk, "due_at": future}, "Wybierz kogoś z zespołu."),
    ]:
        response = manager_client.post(url, data, **HX)
        assert response.status_code == 422
        assert message in response.content.decode()
    response = manager_client.post(
        url, {"title": "Zadzwoń do banku", "owner": member.pk, "due_at": future}, **HX
    )
    assert response.status_code == 200
    assert f"Dodano zadanie dla: {member}." in response.content.decode()


def test_template_texts_outside_the_tags_are_translated_too(client, manager, member):
    """The leave-the-team confirmation (an hx-confirm attribute) and the phone-layout cell labels."""
    member.language = "pl"
    member.save(update_fields=["language"])
    incident = IncidentFactory.create(declared_by=manager)
    give_role(incident, member, "drafter")
    client.force_login(member)
    room = client.get(reverse("incidents:room", args=[incident.code])).content.decode()
    assert f'hx-confirm="Opuścić zespół {incident.reference}? Twoje role wygasają od razu."' in room
    contacts = client.get(reverse("incidents:contacts", args=[incident.code])).content.decode()
    assert 'data-label="Osoba"' in contacts
    assert 'data-label="Person"' not in contacts


def test_refusals_the_models_raise_are_in_the_active_language():
    with translation.override("ru"), pytest.raises(InvalidTransition) as refused:
        Incident(status=Status.RESOLVED).ensure_can_move_to(Status.RESOLVED)
    assert str(refused.value) == "У инцидента уже статус «урегулирован»."  # noqa: RUF001
    with translation.override("sv"), pytest.raises(TextRefused) as too_long:
        check_text("x" * (MAX_BODY + 1), "website")
    assert str(too_long.value).startswith("Håll ett uttalande under ")


def test_quoted_text_gets_the_languages_quotation_marks():
    expected = {"en": "“Too slow.”", "pl": "„Too slow.”", "ru": "«Too slow.»", "sv": "”Too slow.”"}
    for lang, quoted in expected.items():
        with translation.override(lang):
            assert quote("Too   slow.") == quoted


def test_one_english_word_two_meanings_two_translations():
    from incidents.models import OutboundEmail, TeamEvent

    email, person = OutboundEmail._meta.get_field("subject"), TeamEvent._meta.get_field("subject")
    with translation.override("pl"):
        assert (str(email.verbose_name), str(person.verbose_name)) == ("temat", "osoba")
    with translation.override("sv"):
        assert (str(email.verbose_name), str(person.verbose_name)) == ("ämne", "person")
