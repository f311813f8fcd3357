"""Which watches a mention counts for: every matching organisation watch, and at most one incident watch.

A brand watch and a product watch may both count a mention (each watch's list and chart agree: both show
exactly the mentions that count for it); an incident owns a mention alone, so its queue and its chart
belong to one incident (a watch the source is bound to wins, then the oldest matching one). Terms match whole
words, case-insensitively ("Northwind" does not match "Northwinds"); hashtags, handles and phrases match as
written ("#NorthwindFail", "@northwind", "charged twice"). Any exclude term vetoes the watch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from incidents.listening.models import Source, Watch
from incidents.models import Incident


def _folded(terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(t.strip().casefold() for t in terms if t.strip())


def has_word(folded: str, term: str) -> bool:
    r"""Whether `term` occurs in `folded` (both casefolded) with no word character right before or after it:
    regex's `(?<!\w)term(?!\w)`, where a word character is what `\w` means (alphanumeric or "_"). str.find
    and two character tests instead of the regex: a case-insensitive regex with lookarounds tries every
    position of every mention, three times slower over a webhook's thousand mentions."""
    at = folded.find(term)
    while at != -1:
        end = at + len(term)
        before = folded[at - 1] if at else " "
        after = folded[end] if end < len(folded) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        at = folded.find(term, at + 1)
    return False


@dataclass(frozen=True)
class CompiledWatch:
    id: int
    incident_id: int | None
    # The terms casefolded, matched against the casefolded text: "NORTHWIND", "Northwind" and "northwind" are
    # one word, and so are "Straße" and "STRASSE".
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, watch: Watch) -> CompiledWatch:
        return cls(watch.pk, watch.incident_id, _folded(watch.include_terms), _folded(watch.exclude_terms))

    def matches(self, text: str, folded: str | None = None) -> bool:
        low = folded if folded is not None else text.casefold()
        # `in` first: most terms are absent from most mentions, and it costs no Python call.
        for term in self.include:
            if term in low and has_word(low, term):
                break
        else:
            return False
        return not any(term in low and has_word(low, term) for term in self.exclude)


@dataclass(frozen=True)
class Match:
    watch_ids: tuple[int, ...] = ()
    incident_watch_id: int | None = None
    incident_id: int | None = None


class Matcher:
    """Built once per batch (one query); matching a mention costs a substring search per term."""

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
        low = text.casefold()
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
