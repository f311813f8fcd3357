r"""Whole-word matching of watch terms: `has_word` is the regex `(?<!\w)term(?!\w)` over casefolded text, found
with str.find instead (ingest matches a thousand mentions a batch)."""

from __future__ import annotations

import re

import pytest

from incidents.listening.matching import CompiledWatch, has_word
from incidents.listening.models import Watch

TEXTS = [
    "Northwind charged me twice",
    "Northwinds of change",
    "#NorthwindFail again",
    "so much for @northwind support",
    "northwind_app is down",  # "_" is a word character
    "Northwind2 launch",  # so are digits
    "2Northwind",
    "NORTHWIND, NORTHWIND!",
    "northwind northwindy northwind",  # the first occurrence is whole; the scan need not stop at a part
    "northwindy northwind",  # a part first, a whole word later
    "Köp inte från Northwind, de svarar aldrig",
    "Zamówienie z Northwind: pobrali dwa razy",
    "Нортвинд снова списал деньги дважды",
    "Die Straße ist gesperrt",
    "DIE STRASSE IST GESPERRT",
    "Northwind",
    "",
]
TERMS = [
    "Northwind",
    "@northwind",
    "#NorthwindFail",
    "charged twice",
    "northwind_app",
    "Нортвинд",
    "straße",
    "ЖЁЛТЫЙ",
]


@pytest.mark.parametrize("term", TERMS)
def test_has_word_agrees_with_the_whole_word_regex(term):
    pattern = re.compile(rf"(?<!\w){re.escape(term.casefold())}(?!\w)")
    for text in TEXTS:
        folded = text.casefold()
        assert has_word(folded, term.casefold()) == (pattern.search(folded) is not None), (term, text)


def test_a_watch_matches_in_any_case_and_an_exclusion_vetoes_only_as_a_whole_word():
    watch = CompiledWatch.of(
        Watch(id=1, include_terms=["Northwind", "Straße"], exclude_terms=["Northwind Grill"])
    )
    assert watch.matches("NORTHWIND is down")
    assert watch.matches("Die STRASSE ist gesperrt")  # casefolded: ß is ss
    assert not watch.matches("Dinner at the NORTHWIND GRILL")
    assert watch.matches("Dinner at the Northwind Grillhouse")
    assert not watch.matches("Northwinds")
    assert not CompiledWatch(2, None).matches("Northwind")  # a watch without include terms matches nothing
