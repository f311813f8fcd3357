"""Language and sentiment, offline and honest about what they cannot do.

- Language: the source's own field when it sends one; otherwise py3langid (a maintained fork of langid.py:
  a 4.6 MB wheel with its model inside, ~20 µs a post, ~100 MB per process) restricted to the languages we
  expect, and only when it is at least 90 % sure of a text of 20 letters or more. Otherwise "unknown".
  lingua-language-detector is more accurate on short posts but measured here at ~460 MB per process and
  ~250 µs a post for 13 languages, in a 96 MB wheel; README "Social listening" has the numbers.
- Sentiment: the source's own label when it sends one; otherwise VADER for English (its lexicon ships in the
  wheel); every other language is "unscored" and a person tags it in one click. No home-made word lists.

Nothing here touches the network: both libraries read their data from their own package directories.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.conf import settings

from incidents.listening.models import ScoredBy, Sentiment

MIN_LETTERS = 20
MIN_CONFIDENCE = 0.9
# VADER's own thresholds (cjhutto/vaderSentiment README).
VADER_POSITIVE, VADER_NEGATIVE = 0.05, -0.05

_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#][\w.]+|<[^>]+>")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def _clean(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text).split())


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(settings.LISTENING_LANGUAGES))
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code, or "" when the text is too short or the detector is unsure."""
    clean = _clean(text)
    if len(_LETTER.findall(clean)) < MIN_LETTERS:
        return ""
    language, confidence = _identifier().classify(clean)
    return str(language) if float(confidence) >= MIN_CONFIDENCE else ""


@functools.cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _score_english(text: str) -> tuple[str, float]:
    compound = float(_vader().polarity_scores(_clean(text))["compound"])
    if compound >= VADER_POSITIVE:
        return Sentiment.POSITIVE, compound
    if compound <= VADER_NEGATIVE:
        return Sentiment.NEGATIVE, compound
    return Sentiment.NEUTRAL, compound


SCORERS = {"en": _score_english}


def scorable(language: str) -> bool:
    return language in SCORERS


def score(text: str, language: str) -> tuple[str, float | None, str]:
    """(label, score, scored by) for a mention without a source label: VADER for English, else unscored."""
    scorer = SCORERS.get(language)
    if scorer is None:
        return Sentiment.UNSCORED, None, ScoredBy.NONE
    label, value = scorer(text)
    return label, value, ScoredBy.MODEL
