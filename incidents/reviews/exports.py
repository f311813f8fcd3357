"""Exports of an incident's full timeline and review: Markdown, CSV, JSON and a printable PDF.

Legally privileged entries are left out unless a team member explicitly asks for them (`?privileged=1`),
and every format says how many were left out. Times are UTC (ISO 8601) so a copy read elsewhere is
unambiguous.

Headings and fixed phrases are in the exporter's language (the language active when the export is made: the
request's, or for a prepared export the one recorded on its job); what people wrote stays as written. CSV
column names and JSON keys are a data interface and stay the same in every language.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents.models import Incident, Publication, TimelineEntry
from incidents.reviews.metrics import IncidentMetrics, format_duration, incident_metrics
from incidents.reviews.models import Feedback, FollowUp, Review, ReviewSection, SectionKey

# Debian's fonts-dejavu-core; a Unicode TTF is needed for names and text beyond Latin-1.
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


R = TypeVar("R", bound=HttpResponseBase)
PROGRESS_EVERY = 25  # entries between two progress reports while rendering


class Progress(Protocol):
    def __call__(self, done: float, /) -> None: ...


@dataclass(frozen=True)
class ExportEntry:
    seq: int
    occurred_at: datetime
    recorded_at: datetime
    kind: str
    kind_label: str
    author: str
    body: str
    privileged: bool
    target_seq: int | None


@dataclass(frozen=True)
class ExportData:
    incident: Incident
    entries: list[ExportEntry]
    withheld: int
    include_privileged: bool
    publications: list[Publication]
    metrics: IncidentMetrics
    review: Review | None
    sections: list[tuple[str, str]]
    follow_ups: list[FollowUp]
    feedback: list[Feedback]
    generated_at: datetime

    @property
    def privilege_note(self) -> str:
        if self.include_privileged:
            return _("Includes entries under legal privilege (marked PRIVILEGED). Handle accordingly.")
        if self.withheld:
            return ngettext(
                "%(n)d entry under legal privilege excluded from this export.",
                "%(n)d entries under legal privilege excluded from this export.",
                self.withheld,
            ) % {"n": self.withheld}
        return _("Entries under legal privilege are excluded from this export (this incident has none).")


def collect(
    incident: Incident, *, include_privileged: bool = False, generated_at: datetime | None = None
) -> ExportData:
    """Everything an export shows. `generated_at` is the export's "Exported" stamp (now by default; a
    prepared export uses the time it was asked for, so its bytes are the ones a direct download would be)."""
    entries = TimelineEntry.objects.filter(incident=incident).select_related("author", "target")
    withheld = 0
    if not include_privileged:
        withheld = entries.filter(is_privileged=True).count()
        entries = entries.filter(is_privileged=False)
    review = Review.objects.filter(incident=incident).first()
    texts = dict(ReviewSection.objects.filter(review=review).values_list("key", "text")) if review else {}
    return ExportData(
        incident=incident,
        entries=[
            ExportEntry(
                seq=e.seq,
                occurred_at=e.occurred_at,
                recorded_at=e.recorded_at,
                kind=e.kind,
                kind_label=e.get_kind_display(),
                author=str(e.author) if e.author else _("System"),
                body=e.body,
                privileged=e.is_privileged,
                target_seq=e.target.seq if e.target else None,
            )
            for e in entries.order_by("seq")
        ],
        withheld=withheld,
        include_privileged=include_privileged,
        publications=list(
            Publication.objects.filter(statement__incident=incident)
            .select_related("statement", "version", "published_by")
            .order_by("published_at", "pk")
        ),
        metrics=incident_metrics(incident),
        review=review,
        sections=[(str(label), texts.get(key, "")) for key, label in SectionKey.choices],
        follow_ups=list(FollowUp.objects.filter(review=review).select_related("owner")) if review else [],
        feedback=list(Feedback.objects.filter(review=review).select_related("user")) if review else [],
        generated_at=generated_at or timezone.now(),
    )


def _utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _metric_lines(m: IncidentMetrics) -> list[tuple[str, str]]:
    lines = [
        (_("Detected → declared"), format_duration(m.detected_to_declared)),
        (_("Declared → first public statement"), format_duration(m.declared_to_first_statement)),
        (_("Declared → resolved"), format_duration(m.declared_to_resolved)),
        (_("Statements published"), str(m.publications)),
        (_("Statement revisions (versions saved)"), str(m.statement_revisions)),
        (_("Deadlines met / missed"), f"{m.deadlines_met} / {m.deadlines_missed}"),
        (
            _("Update cadence kept"),
            _("%(kept)s of %(gaps)s gaps within %(cadence)s")
            % {
                "kept": m.cadence.kept,
                "gaps": len(m.cadence.gaps),
                "cadence": format_duration(m.cadence.cadence),
            },
        ),
    ]
    for step in m.steps:
        lines.append(
            (
                _("Approval: %(title)s v%(number)s · %(step)s")
                % {"title": step.statement_title, "number": step.version_number, "step": step.name},
                format_duration(step.duration),
            )
        )
    for person in m.approvers:
        lines.append(
            (_("Approver %(name)s (median)") % {"name": person.name}, format_duration(person.median_time))
        )
    lines.append(
        (_("Entries by kind"), ", ".join(f"{k.label} {k.count}" for k in m.entries_by_kind) or _("none"))
    )
    return lines


def _header(d: ExportData) -> str:
    i = d.incident
    return f"{i.reference} — {i.title}"


# --- Markdown --------------------------------------------------------------------------------------------

# Schemes that run code or smuggle content when a Markdown viewer turns text into a link.
_ACTIVE_SCHEME = re.compile(r"\b(javascript|vbscript|data)(\s*):", re.IGNORECASE)


def _md(text: str) -> str:
    """User text as inert Markdown: HTML is escaped (a viewer renders `<script>` as text, not a tag) and
    `javascript:`-like schemes lose their colon, so no link made from them can run anything."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _ACTIVE_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}&#58;", escaped)


def to_markdown(d: ExportData) -> str:
    i = d.incident
    out = [f"# {_md(_header(d))}", ""]
    exported = _("Exported")  # outside the f-string: makemessages does not look inside one
    if i.is_drill:
        out += [_("**DRILL** — this incident was an exercise."), ""]
    out += [
        f"- {_('Scenario')}: {i.get_scenario_display()}",
        f"- {_('Severity')}: {i.get_severity_display()}",
        f"- {_('Status')}: {i.get_status_display()}",
        f"- {_('Detected')}: {_utc(i.detected_at)}",
        f"- {_('Declared')}: {_utc(i.declared_at)}",
        f"- {_('Resolved')}: {_utc(i.resolved_at) or '—'}",
        f"- {exported}: {_utc(d.generated_at)}",
        "",
        f"> {d.privilege_note}",
        "",
    ]
    if i.current_summary:
        heading = _("Current summary (v%(number)s)") % {"number": i.summary_version}
        out += [f"## {heading}", "", i.current_summary, ""]
    if i.summary:
        out += [f"## {_('Summary at declaration')}", "", _md(i.summary), ""]
    out += [f"## {_('Response metrics')}", ""]
    out += [f"- {label}: {value}" for label, value in _metric_lines(d.metrics)]
    out += ["", f"## {_('Timeline')}", ""]
    privileged = _("PRIVILEGED")
    for e in d.entries:
        flag = f" **{privileged}**" if e.privileged else ""
        about = " " + _("(on #%(seq)s)") % {"seq": e.target_seq} if e.target_seq else ""
        body = _md(e.body).replace("\n", "\n  ")
        out.append(
            f"- **#{e.seq}** {_utc(e.occurred_at)} · {e.kind_label}{about} · {_md(str(e.author))}{flag}  \n  {body}"
        )
    if not d.entries:
        out.append(f"_{_('No entries.')}_")
    out += ["", f"## {_('Published statements')}", ""]
    for p in d.publications:
        out += [
            f"### {_md(p.statement.title)} ({p.get_channel_display()}, {_utc(p.published_at)})",
            "",
            _md(p.version.body),
            "",
        ]
    if not d.publications:
        out += [f"_{_('Nothing was published.')}_", ""]
    out += [f"## {_('Review')}", ""]
    if d.review is None:
        out += [f"_{_('No review has been opened (the incident has not been resolved).')}_", ""]
    else:
        out += [_signed(d.review), ""]
        not_written, none = f"_{_('Not written.')}_", f"_{_('None.')}_"
        for label, text in d.sections:
            out += [f"### {label}", "", _md(text) if text else not_written, ""]
        out += [f"### {_('Follow-up actions')}", ""]
        out += [
            f"- [{'x' if f.is_done else ' '}] "
            + _("%(title)s — %(owner)s, due %(due)s")
            % {"title": _md(f.title), "owner": _md(str(f.owner)), "due": _utc(f.due_at)}
            for f in d.follow_ups
        ] or [none]
        out += ["", "### " + _("Participants' feedback"), ""]
        out += [f"- {_md(str(f.user))}: {f.rating}/5 — {_md(f.comment)}" for f in d.feedback] or [none]
        out.append("")
    return "\n".join(out)


def _signed(review: Review) -> str:
    if review.signed_off_at:
        return _("Signed off by %(who)s at %(at)s.") % {
            "who": review.signed_off_by,
            "at": _utc(review.signed_off_at),
        }
    return _("Not signed off yet.")


# --- CSV -------------------------------------------------------------------------------------------------


def to_csv(d: ExportData) -> str:
    """The timeline, one entry per row (spreadsheets), plus a first comment-like row about privilege."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["# " + _header(d), d.privilege_note])
    w.writerow(
        ["seq", "occurred_at_utc", "recorded_at_utc", "kind", "author", "privileged", "about_seq", "text"]
    )
    for e in d.entries:
        w.writerow(
            [
                e.seq,
                _iso(e.occurred_at),
                _iso(e.recorded_at),
                e.kind,
                e.author,
                "yes" if e.privileged else "no",
                e.target_seq or "",
                _csv_safe(e.body),
            ]
        )
    return buf.getvalue()


def _csv_safe(text: str) -> str:
    # Spreadsheet formula injection: a cell starting with = + - @ is run as a formula by Excel and co.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- JSON ------------------------------------------------------------------------------------------------


def to_json(d: ExportData) -> str:
    i, m = d.incident, d.metrics
    doc: dict[str, Any] = {
        "reference": i.reference,
        "title": i.title,
        "summary": i.summary,
        "current_summary": i.current_summary,
        "summary_version": i.summary_version,
        "scenario": i.scenario,
        "severity": i.severity,
        "status": i.status,
        "is_drill": i.is_drill,
        "detected_at": _iso(i.detected_at),
        "declared_at": _iso(i.declared_at),
        "resolved_at": _iso(i.resolved_at),
        "exported_at": _iso(d.generated_at),
        "privileged_entries_excluded": 0 if d.include_privileged else d.withheld,
        "privilege_note": d.privilege_note,
        "metrics": {
            "detected_to_declared_seconds": m.detected_to_declared.total_seconds(),
            "declared_to_first_statement_seconds": _secs(m.declared_to_first_statement),
            "statement_revisions": m.statement_revisions,
            "publications": m.publications,
            "deadlines_met": m.deadlines_met,
            "deadlines_missed": m.deadlines_missed,
            "cadence_minutes": m.cadence.cadence.total_seconds() / 60,
            "cadence_gaps_seconds": [g.total_seconds() for g in m.cadence.gaps],
            "approval_steps": [
                {
                    "statement": s.statement_title,
                    "version": s.version_number,
                    "step": s.name,
                    "duration_seconds": _secs(s.duration),
                    "decisions": [
                        {"approver": a.name, "decision": a.decision, "after_seconds": _secs(a.took)}
                        for a in s.decisions
                    ],
                }
                for s in m.steps
            ],
            "entries_by_kind": {k.kind: k.count for k in m.entries_by_kind},
        },
        "timeline": [
            {
                "seq": e.seq,
                "occurred_at": _iso(e.occurred_at),
                "recorded_at": _iso(e.recorded_at),
                "kind": e.kind,
                "author": e.author,
                "privileged": e.privileged,
                "about_seq": e.target_seq,
                "text": e.body,
            }
            for e in d.entries
        ],
        "published_statements": [
            {
                "title": p.statement.title,
                "channel": p.channel,
                "published_at": _iso(p.published_at),
                "sha256": p.sha256,
                "text": p.version.body,
            }
            for p in d.publications
        ],
        "review": None
        if d.review is None
        else {
            "signed_off_at": _iso(d.review.signed_off_at),
            "signed_off_by": str(d.review.signed_off_by) if d.review.signed_off_by else None,
            "sections": dict(d.sections),
            "follow_ups": [
                {
                    "title": f.title,
                    "owner": str(f.owner),
                    "due_at": _iso(f.due_at),
                    "done_at": _iso(f.done_at),
                }
                for f in d.follow_ups
            ],
            "feedback": [
                {"person": str(f.user), "rating": f.rating, "comment": f.comment} for f in d.feedback
            ],
        },
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def _secs(value: Any) -> float | None:
    return None if value is None else float(value.total_seconds())


# --- PDF -------------------------------------------------------------------------------------------------


def to_pdf(d: ExportData, progress: Progress | None = None) -> bytes:
    """The printable export. Rendering is the slow part of any export (~2 ms per entry): `progress` is told
    the share of entries written so far."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(d.generated_at)  # the same export yields the same bytes
    pdf.set_auto_page_break(auto=True, margin=15)
    font = next((p for p in FONT_CANDIDATES if p.exists()), None)
    if font is not None:
        pdf.add_font("body", "", str(font))
        family = "body"
    else:  # no Unicode font installed: core font, with characters outside Latin-1 replaced
        family = "helvetica"
    pdf.set_title(_header(d))
    pdf.set_creator("War Room")
    pdf.add_page()

    def text(value: str) -> str:
        return value if font is not None else value.encode("latin-1", "replace").decode("latin-1")

    def para(value: str, size: float = 10, gap: float = 1.5) -> None:
        pdf.set_font(family, size=size)
        pdf.multi_cell(0, size * 0.5, text(value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    para(_header(d), 16, 2)
    i = d.incident
    exported = _("Exported")  # outside the f-string: makemessages does not look inside one
    if i.is_drill:
        para(_("DRILL — this incident was an exercise."), 11)
    para(
        f"{i.get_scenario_display()} · {i.get_severity_display()} · {i.get_status_display()}\n"
        f"{_('Detected')} {_utc(i.detected_at)} · {_('Declared')} {_utc(i.declared_at)} · "
        f"{_('Resolved')} {_utc(i.resolved_at) or '—'}\n"
        f"{exported} {_utc(d.generated_at)}",
        9,
    )
    para(d.privilege_note, 9, 3)
    para(_("Response metrics"), 13)
    for label, value in _metric_lines(d.metrics):
        para(f"{label}: {value}", 9, 0.5)
    pdf.ln(3)
    para(_("Timeline"), 13)
    privileged = _("PRIVILEGED")
    for n, e in enumerate(d.entries):
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(n / len(d.entries))
        flag = f" [{privileged}]" if e.privileged else ""
        para(f"#{e.seq}  {_utc(e.occurred_at)}  {e.kind_label} · {e.author}{flag}", 8, 0)
        para(e.body or "—", 10, 2)
    if not d.entries:
        para(_("No entries."), 10)
    para(_("Published statements"), 13)
    for p in d.publications:
        para(f"{p.statement.title} ({p.get_channel_display()}, {_utc(p.published_at)})", 9, 0)
        para(p.version.body, 10, 2)
    if not d.publications:
        para(_("Nothing was published."), 10)
    para(_("Review"), 13)
    if d.review is None:
        para(_("No review has been opened (the incident has not been resolved)."), 10)
    else:
        para(_signed(d.review), 9)
        for label, value in d.sections:
            para(label, 11, 0)
            para(value or _("Not written."), 10, 2)
        para(_("Follow-up actions"), 11, 0)
        done, open_ = _("[done]"), _("[open]")
        for f in d.follow_ups:
            line = _("%(title)s — %(owner)s, due %(due)s") % {
                "title": f.title,
                "owner": f.owner,
                "due": _utc(f.due_at),
            }
            para(f"{done if f.is_done else open_} {line}", 10, 0.5)
        if not d.follow_ups:
            para(_("None."), 10)
        para(_("Participants' feedback"), 11, 0)
        for fb in d.feedback:
            para(f"{fb.user}: {fb.rating}/5 — {fb.comment}", 10, 0.5)
        if not d.feedback:
            para(_("None."), 10)
    return bytes(pdf.output())


FORMATS = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "pdf": ("application/pdf", "pdf"),
}


# Above these many timeline entries an export is prepared by a worker instead of in the request. PDF costs
# ~2 ms per entry (a 1,000-entry PDF took ~2 s in the request); the text formats ~20 times less.
SYNC_COST = {"pdf": 1.0, "md": 0.05, "csv": 0.05, "json": 0.05}


def is_large(fmt: str, entries: int) -> bool:
    return entries * SYNC_COST[fmt] > settings.EXPORT_SYNC_MAX_ENTRIES


def render(d: ExportData, fmt: str, progress: Progress | None = None) -> bytes:
    """The export's bytes: the same for the direct download and for a prepared one."""
    if fmt == "pdf":
        return to_pdf(d, progress)
    text = to_markdown(d) if fmt == "md" else to_csv(d) if fmt == "csv" else to_json(d)
    return text.encode()


def filename(incident: Incident, fmt: str) -> str:
    suffix = "-timeline" if fmt == "csv" else "-review"
    return f"{incident.reference}{suffix}.{FORMATS[fmt][1]}"


def attachment_headers(response: R, incident: Incident, fmt: str) -> R:
    response["Content-Disposition"] = f'attachment; filename="{filename(incident, fmt)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def respond(d: ExportData, fmt: str) -> HttpResponse:
    response = HttpResponse(render(d, fmt), content_type=FORMATS[fmt][0])
    return attachment_headers(response, d.incident, fmt)
