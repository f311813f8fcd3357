"""`{% url %}` remembers its reversals (incidents/templatetags/memo_url.py) and says exactly what Django's says:
the same paths, `as var` and NoReverseMatch — and a new path when the script prefix, the urlconf or
an argument's type changes."""

from __future__ import annotations

import uuid

import pytest
from django.template import engines
from django.urls import NoReverseMatch, reverse, set_script_prefix
from django.urls.base import get_script_prefix

from incidents.templatetags import memo_url

CODE = uuid.UUID("59de1d28-0c23-4e61-ae18-7c34b4329ce8")


def render(source: str, **context: object) -> str:
    return engines["django"].from_string(source).render(context)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every reversal the tag really makes, by view name; the memo starts empty."""
    calls: list[str] = []

    def counting(view_name: str, **kwargs: object) -> str:
        calls.append(view_name)
        return reverse(view_name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(memo_url, "reverse", counting)
    monkeypatch.setattr(memo_url, "_memo", {})
    return calls


def test_the_tag_says_what_django_says_and_reverses_each_path_once(counted: list[str]) -> None:
    source = "{% url 'incidents:room' code %}|{% url 'incidents:team-handover' code=code pk=7 %}"
    expected = f"{reverse('incidents:room', args=[CODE])}|" + reverse(
        "incidents:team-handover", kwargs={"code": CODE, "pk": 7}
    )
    assert render(source, code=CODE) == expected
    assert render(source, code=CODE) == expected
    assert counted == ["incidents:room", "incidents:team-handover"]  # the second render looked both up
    assert render("{% url 'incidents:team-handover' CODE 7 %}", CODE=str(CODE)) == reverse(
        "incidents:team-handover", args=[CODE, 7]
    )
    assert (
        counted[-1] == "incidents:team-handover"
    )  # a str is another key than a UUID, though it prints alike


def test_as_var_and_refusals_are_djangos(counted: list[str]) -> None:
    assert render("{% url 'incidents:room' code as u %}[{{ u }}]", code=CODE) == f"[/incidents/{CODE}/]"
    assert render("{% url 'incidents:nothing' as u %}[{{ u }}]") == "[]"
    with pytest.raises(NoReverseMatch):
        render("{% url 'incidents:nothing' %}")
    with pytest.raises(NoReverseMatch):  # a failure is not remembered as a path
        render("{% url 'incidents:nothing' %}")
    assert counted.count("incidents:nothing") == 3
    remembered = len(memo_url._memo)
    with pytest.raises(NoReverseMatch):  # an unhashable argument goes to Django's reverse as it is
        render("{% url 'incidents:room' code %}", code=[CODE])
    assert len(memo_url._memo) == remembered


def test_a_script_prefix_is_part_of_the_key(counted: list[str]) -> None:
    before = get_script_prefix()
    assert render("{% url 'incidents:room' code %}", code=CODE) == f"/incidents/{CODE}/"
    set_script_prefix("/warroom/")
    try:
        assert render("{% url 'incidents:room' code %}", code=CODE) == f"/warroom/incidents/{CODE}/"
    finally:
        set_script_prefix(before)
    assert render("{% url 'incidents:room' code %}", code=CODE) == f"/incidents/{CODE}/"
    assert counted == ["incidents:room", "incidents:room"]
