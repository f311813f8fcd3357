"""The action helper every view uses: form → service → refusal or success → answer."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse

from incidents.models import InputRefused, NotAllowed, Refused
from incidents.views.actions import Outcome, act, form_error


class NoteForm(forms.Form):
    text = forms.CharField(label="Your note", max_length=5)
    version = forms.IntegerField(widget=forms.HiddenInput)


def answer_with(seen: list[Outcome[object]]):
    def answer(outcome: Outcome[object]) -> HttpResponse:
        seen.append(outcome)
        return HttpResponse(outcome.error or outcome.notice, status=outcome.status)

    return answer


def test_an_invalid_form_is_422_with_every_error_labelled_and_the_change_never_runs():
    ran: list[object] = []
    seen: list[Outcome[object]] = []
    form = NoteForm({"text": "far too long"})
    response = act(lambda data: ran.append(data), answer_with(seen), form=form)
    assert response.status_code == 422
    assert ran == []
    assert seen[0].form is form
    assert "Your note: Ensure this value has at most 5 characters" in seen[0].error
    assert "Version: This field is required." in seen[0].error


def test_a_named_message_replaces_the_form_errors():
    seen: list[Outcome[object]] = []
    act(lambda data: None, answer_with(seen), form=NoteForm({}), invalid="The note was not saved.")
    assert seen[0].error == "The note was not saved."


def test_a_refusal_answers_with_its_own_status_and_message():
    def refuse(exc: Refused):
        def change(data):
            raise exc

        return change

    for exc, status in ((Refused("taken"), 409), (InputRefused("bad"), 422), (NotAllowed("no"), 403)):
        seen: list[Outcome[object]] = []
        response = act(refuse(exc), answer_with(seen))
        assert response.status_code == status
        assert seen[0].error == str(exc)
        assert seen[0].refused is exc
        assert not seen[0].ok


def test_success_passes_the_cleaned_data_and_words_the_notice_from_the_result():
    seen: list[Outcome[object]] = []
    form = NoteForm({"text": "ok", "version": "3"})
    response = act(lambda data: data["version"] + 1, answer_with(seen), form=form, notice=lambda n: f"v{n}")
    assert response.status_code == 200
    assert seen[0].result == 4
    assert seen[0].notice == "v4"
    assert seen[0].ok


def test_form_error_of_a_valid_form_still_says_something():
    form = NoteForm({"text": "ok", "version": "1"})
    assert form.is_valid()
    assert form_error(form) == "That was not understood."
