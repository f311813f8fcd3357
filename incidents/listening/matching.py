"""Which watches a mention counts for: every matching organisation watch, and at most one incident watch.

A brand watch and a product watch may both count a mention (each watch's list and chart agree: both show
exactly the mentions that count for it); an incident owns a mention alone, so its queue and its chart
belong to one incident (a watch the source is bound to wins, then the oldest matching one). Terms match whole
words, case-insensitively ("Northwind" does not match "Northwinds"); hashtags, handles and phrases match as
written ("#NorthwindFail", "@northwind", "charged twice"). Any exclude term vetoes the watch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from incidents.listening.models import Source, Watch
from incidents.models import Incident


def compile_terms(terms: Iterable[str]) -> re.Pattern[str] | None:
    parts = [rf"(?<!\w){re.escape(t.strip())}(?!\w)" for t in terms if t.strip()]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _lowered(terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(t.strip().lower() for t in terms if t.strip())


@dataclass(frozen=True)
class CompiledWatch:
    id: int
    incident_id: int | None
    include: re.Pattern[str] | None
    exclude: re.Pattern[str] | None
    # The terms in lower case: a substring test (in C) rules most non-matches out before any regex runs, and
    # most vetoes too (an exclude regex that finds nothing scans the whole text, lookbehind at every place).
    words: tuple[str, ...] = ()
    exclude_words: tuple[str, ...] = ()

    @classmethod
    def of(cls, watch: Watch) -> CompiledWatch:
        return cls(
            watch.pk,
            watch.incident_id,
            compile_terms(watch.include_terms),
            compile_terms(watch.exclude_terms),
            _lowered(watch.include_terms),
            _lowered(watch.exclude_terms),
        )

    def matches(self, text: str, lowered: str | None = None) -> bool:
        if self.include is None:
            return False
        low = lowered if lowered is not None else text.lower()
        if self.words:
            for word in self.words:
                if word in low:
                    break
            else:
                return False
        if self.include.search(text) is None:
            return False
        if self.exclude is None:
            return True
        if self.exclude_words:
            for word in self.exclude_words:
                if word in low:
                    break
            else:
                return True
        return self.exclude.search(text) is None


@dataclass(frozen=True)
class Match:
    watch_ids: tuple[int, ...] = ()
    incident_watch_id: int | None = None
    incident_id: int | None = None


class Matcher:
    """Built once per batch (one query); matching a mention costs one regex search per watch."""

    def __init__(self, watches: Iterable[Watch], *, bound: Watch | None = None) -> None:
        self.org: list[CompiledWatch] = []
        self.incident: list[CompiledWatch] = []
        for w in sorted(watches, key=lambda w: w.pk):
            compiled = CompiledWatch.of(w)
            (self.incident if w.incident_id else self.org).append(compiled)
        self.bound = bound

    @classmethod
    def for_source(cls, source: Source) -> Matcher:
        # Drill incidents' watches only ever receive drill mentions (ingest(watch=…)): a rehearsed spike must
        # not reach a real incident's chart, and real mentions must not reach a drill's.
        watches = (
            Watch.objects.filter(is_active=True)
            .exclude(incident__status__in=Incident.ARCHIVED_STATUSES)
            .exclude(incident__is_drill=True)
        )
        bound = source.watch if source.watch_id and source.watch and source.watch.is_active else None
        return cls(watches.only("pk", "incident_id", "include_terms", "exclude_terms"), bound=bound)

    def match(self, text: str) -> Match:
        org, incident, incident_id = self.ids(text)
        return Match(tuple(org), incident, incident_id)

    def ids(self, text: str) -> tuple[list[int], int | None, int | None]:
        """`match` without the Match: (organisation watch ids, sorted; incident watch; incident), for ingest's
        thousand-mention batches."""
        incident = incident_id = None
        low = text.lower()
        org = [w.id for w in self.org if w.matches(text, low)]  # in id order, as self.org is
        if self.bound is not None:
            if self.bound.incident_id:
                incident, incident_id = self.bound.pk, self.bound.incident_id
            elif self.bound.pk not in org:
                org.append(self.bound.pk)
                org.sort()
        if incident is None:
            for w in self.incident:
                if w.matches(text, low):
                    incident, incident_id = w.id, w.incident_id
                    break
        return org, incident, incident_id
