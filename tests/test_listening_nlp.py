"""Language and sentiment offline: golden sentences (negation included), the source's label first, and
everything else unscored. Run with sockets refused, so nothing can quietly fetch a model."""

from __future__ import annotations

import socket

import pytest

from incidents.listening import nlp
from incidents.listening.models import ScoredBy, Sentiment


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("listening NLP tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    nlp._identifier.cache_clear()  # load the models under the refusal
    nlp._vader.cache_clear()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Northwind charged me twice and support is useless. Terrible.", Sentiment.NEGATIVE),
        ("Thank you Northwind, the refund arrived quickly. Great service!", Sentiment.POSITIVE),
        ("The Northwind store opens at 9 on Saturday.", Sentiment.NEUTRAL),
        ("Northwind's response was not bad at all", Sentiment.POSITIVE),  # negation
        ("Northwind is not good at answering anyone", Sentiment.NEGATIVE),  # negation
        ("<p>Love the new jacket 😍 https://northwind.example/x #NorthwindFail</p>", Sentiment.POSITIVE),
    ],
)
def test_english_is_scored_by_vader(text, expected):
    label, score, by = nlp.score(text, "en")
    assert (label, by) == (expected, ScoredBy.MODEL)
    assert score is not None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Northwind charged me twice and nobody answers the phone or the chat", "en"),
        ("Ich wurde zweimal belastet und niemand antwortet auf meine Nachrichten", "de"),
        ("Jag blev debiterad två gånger och ingen svarar på mina meddelanden", "sv"),
        ("Pobrali mi pieniądze dwa razy i nikt nie odpowiada na wiadomości", "pl"),
        ("J'ai été débité deux fois et personne ne répond à mes messages", "fr"),
        ("С меня списали деньги дважды, и никто не отвечает на сообщения", "ru"),  # noqa: RUF001
    ],
)
def test_languages_are_detected(text, language):
    assert nlp.detect_language(text) == language


@pytest.mark.parametrize(
    "text", ["lol", "ok 👍", "#NorthwindFail", "@northwind https://x.com/a/1", "Northwind!!!"]
)
def test_short_or_ambiguous_texts_stay_unknown(text):
    assert nlp.detect_language(text) == ""


def test_other_languages_are_unscored_not_guessed():
    assert nlp.score("Pobrali mi pieniądze dwa razy, skandal", "pl") == (
        Sentiment.UNSCORED,
        None,
        ScoredBy.NONE,
    )
    assert nlp.score("Schrecklicher Service", "de")[0] == Sentiment.UNSCORED
    assert nlp.score("Terrible service", "")[0] == Sentiment.UNSCORED  # unknown language: not assumed English
