"""Comparing two playbook versions: changed fields (with a word diff for long text), then each list.

May import models, this app's content vocabulary and the statements' word diff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from incidents.models import Audience, Channel, User
from incidents.models.statements import canonical_text
from incidents.playbooks.content import Content, content_of
from incidents.playbooks.models import InjectKind, PlaybookVersion, offset_label
from incidents.services.statements import word_diff


@dataclass
class FieldChange:
    label: str
    old: str
    new: str
    diff: SafeString | None = None


@dataclass
class ListChange:
    label: str
    removed: list[str]
    added: list[str]
    unchanged: int
    changed: list[tuple[str, SafeString]] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.removed or self.added or self.changed)


def _lines(content: Content) -> dict[str, list[str]]:
    def person(u: User | None) -> str:
        return str(u) if u else _("nobody yet")

    return {
        _("Roles to fill"): [
            _("%(role)s: %(person)s (backup: %(backup)s)")
            % {"role": r.role.name, "person": person(r.person), "backup": person(r.backup)}
            for r in content.roles
        ],
        _("Tasks"): [
            f"{offset_label(t.offset_minutes * 60)} · {t.title}"
            + (f" · {t.role.name}" if t.role else "")
            + (f" — {t.notes}" if t.notes else "")
            for t in content.tasks
        ],
        _("Contacts"): [
            " · ".join(p for p in (c.name, c.organisation, c.phone, c.email, c.notes) if p)
            for c in content.contacts
        ],
        _("Drill injects"): [
            f"{offset_label(x.offset_seconds)} · {InjectKind(x.kind).label} · {x.text}"
            for x in content.injects
        ],
        _("Regulatory clocks"): [
            " · ".join(p for p in (f"{c.hours} h", c.name, c.authority, c.basis, c.notes) if p)
            for c in content.clocks
        ],
    }


def _list_change(label: str, old: list[str], new: list[str]) -> ListChange:
    remaining = list(new)
    removed: list[str] = []
    unchanged = 0
    for line in old:
        if line in remaining:
            remaining.remove(line)
            unchanged += 1
        else:
            removed.append(line)
    return ListChange(label=label, removed=removed, added=remaining, unchanged=unchanged)


def compare_versions(
    old: PlaybookVersion, new: PlaybookVersion
) -> tuple[list[FieldChange], list[ListChange]]:
    """What changed from `old` to `new`: changed fields (with a word diff for text), then each list."""
    a, b = content_of(old), content_of(new)
    fields: list[FieldChange] = []
    for name in Content.SCALARS:
        if name == "change_note":
            continue
        before, after = getattr(a, name), getattr(b, name)
        if before == after:
            continue
        label = str(getattr(PlaybookVersion._meta.get_field(name), "verbose_name", name)).capitalize()
        old_text, new_text = _display(before), _display(after)
        diff = word_diff(old_text, new_text) if isinstance(before, str) and len(old_text) > 40 else None
        fields.append(FieldChange(label=label, old=old_text, new=new_text, diff=diff))
    if a.platforms != b.platforms:
        fields.append(
            FieldChange(label=_("Platforms"), old=", ".join(a.platforms), new=", ".join(b.platforms))
        )
    lists = [_list_change(label, lines, _lines(b)[label]) for label, lines in _lines(a).items()]
    templates = ListChange(label=_("Statement templates"), removed=[], added=[], unchanged=0)
    by_key = {(t.channel, t.audience, t.name): t for t in a.templates}
    seen: set[tuple[str, str, str]] = set()
    for t in b.templates:
        key = (t.channel, t.audience, t.name)
        label = f"{t.name} ({Channel(t.channel).label}, {Audience(t.audience).label})"
        before_t = by_key.get(key)
        seen.add(key)
        if before_t is None:
            templates.added.append(label)
        elif (before_t.title, canonical_text(before_t.body), before_t.guidance) == (
            t.title,
            canonical_text(t.body),
            t.guidance,
        ):
            templates.unchanged += 1
        else:
            templates.changed.append(
                (label, word_diff(f"{before_t.title}\n\n{before_t.body}", f"{t.title}\n\n{t.body}"))
            )
    for key, t in by_key.items():
        if key not in seen:
            templates.removed.append(f"{t.name} ({Channel(t.channel).label}, {Audience(t.audience).label})")
    lists.insert(2, templates)
    return fields, lists


def _display(value: object) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None:
        return "—"
    if isinstance(value, str) and value in {"sev1", "sev2", "sev3", "sev4"}:
        return value.upper()
    return str(value)
