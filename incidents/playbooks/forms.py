"""The playbook editor: one form for the version's fields and a formset per list (roles, tasks, templates,
contacts, drill injects). Only the shape is checked here; services decide what may be written."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from incidents.forms import PersonField
from incidents.models import (
    PLACEHOLDERS,
    ApprovalChainTemplate,
    Audience,
    Channel,
    IncidentRole,
    Platform,
    Scenario,
    Severity,
    StatementTemplate,
)
from incidents.playbooks.content import (
    ClockSpec,
    ContactSpec,
    Content,
    InjectSpec,
    RoleSpec,
    TaskSpec,
    TemplateSpec,
)
from incidents.playbooks.models import ClockStart, ContactKind, InjectKind

# A checklist item due more than a month after declaration is a follow-up, not a crisis task.
MAX_TASK_OFFSET = 30 * 24 * 60
MAX_INJECT_OFFSET = 24 * 60 * 60
MAX_ROWS = 40


def _person_input() -> forms.TextInput:
    return forms.TextInput(
        attrs={"list": "playbook-people", "autocomplete": "off", "placeholder": gettext_lazy("e-mail")}
    )


class PlaybookForm(forms.Form):
    name = forms.CharField(max_length=120)
    scenario = forms.ChoiceField(choices=Scenario.choices)
    owner = PersonField(
        label=gettext_lazy("Owner"),
        required=False,
        widget=_person_input(),
        help_text=gettext_lazy("Keeps it current; reminded after 90 days without a review. Empty: you."),
    )
    title_hint = forms.CharField(
        max_length=200,
        required=False,
        label=gettext_lazy("Suggested incident title"),
        help_text=gettext_lazy("e.g. “Outage: ”"),
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)
    risk_notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        required=False,
        label=gettext_lazy("Risk notes"),
    )
    default_severity = forms.ChoiceField(choices=Severity.choices, label=gettext_lazy("Default severity"))
    default_restricted = forms.BooleanField(required=False, label=gettext_lazy("Restricted by default"))
    platforms = forms.MultipleChoiceField(
        choices=Platform.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Usual platforms"),
    )
    approval_chain = forms.ModelChoiceField(
        queryset=ApprovalChainTemplate.objects.filter(is_active=True, fill_only=False),
        required=False,
        label=gettext_lazy("Approval chain"),
        empty_label=gettext_lazy("Chosen by severity and audience"),
    )
    bridge_line = forms.CharField(max_length=200, required=False, label=gettext_lazy("Bridge line"))
    chat_channel = forms.CharField(max_length=200, required=False, label=gettext_lazy("Chat channel"))
    press_inbox = forms.CharField(max_length=200, required=False, label=gettext_lazy("Press inbox"))
    other_channels = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        label=gettext_lazy("Other channels"),
    )
    change_note = forms.CharField(
        max_length=300,
        required=False,
        label=gettext_lazy("What changed"),
        help_text=gettext_lazy("Shown in the version history."),
    )
    # The version the editor was opened on; a newer one saved meanwhile makes this save stale (409).
    base_number = forms.IntegerField(min_value=0, widget=forms.HiddenInput, required=False)
    # Sent by the "save mine on top of vN" button shown with a 409 (never rendered as a field).
    save_over = forms.IntegerField(min_value=1, required=False)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError(_("Give the playbook a name."))
        return name


class RoleRow(forms.Form):
    role = forms.ModelChoiceField(queryset=IncidentRole.objects.filter(is_command=False), empty_label=None)
    person = PersonField(required=False, label=gettext_lazy("Proposed person"), widget=_person_input())
    backup = PersonField(required=False, label=gettext_lazy("Backup"), widget=_person_input())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        person, backup = data.get("person"), data.get("backup")
        if person is not None and backup is not None and person.pk == backup.pk:
            raise ValidationError(_("Nobody can be their own backup."))
        return data


class TaskRow(forms.Form):
    title = forms.CharField(max_length=200)
    offset_minutes = forms.IntegerField(
        min_value=0,
        max_value=MAX_TASK_OFFSET,
        label=gettext_lazy("Due after (minutes)"),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    role = forms.ModelChoiceField(
        queryset=IncidentRole.objects.all(), required=False, empty_label=gettext_lazy("Commander")
    )
    notes = forms.CharField(max_length=500, required=False)


class TemplateRow(forms.Form):
    name = forms.CharField(max_length=80, label=gettext_lazy("Name"))
    channel = forms.ChoiceField(choices=Channel.choices)
    audience = forms.ChoiceField(choices=Audience.choices, initial=Audience.PUBLIC)
    title = forms.CharField(max_length=200, label=gettext_lazy("Statement title"))
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=10_000,
        help_text=format_lazy(
            "{}{}", gettext_lazy("Placeholders: "), ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        ),
    )
    guidance = forms.CharField(max_length=300, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if {"channel", "body", "title"} <= data.keys():
            probe = StatementTemplate(
                name="probe", channel=data["channel"], title=data["title"], body=data["body"]
            )
            try:
                probe.clean()  # the statement editor's own checks: known placeholders, channel limit
            except ValidationError as exc:
                raise ValidationError(list(exc.message_dict.get("body", exc.messages))) from None
        return data


class ContactRow(forms.Form):
    kind = forms.ChoiceField(choices=ContactKind.choices)
    name = forms.CharField(max_length=120)
    organisation = forms.CharField(max_length=120, required=False)
    phone = forms.CharField(max_length=40, required=False)
    email = forms.EmailField(required=False)
    notes = forms.CharField(max_length=300, required=False)


class InjectRow(forms.Form):
    offset_seconds = forms.IntegerField(
        min_value=0,
        max_value=MAX_INJECT_OFFSET,
        label=gettext_lazy("After (seconds)"),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    kind = forms.ChoiceField(choices=InjectKind.choices)
    text = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class ClockRow(forms.Form):
    name = forms.CharField(max_length=160, label=gettext_lazy("Notification"))
    authority = forms.CharField(max_length=160, required=False, label=gettext_lazy("To whom"))
    basis = forms.CharField(max_length=120, required=False, label=gettext_lazy("Rule"))
    hours = forms.IntegerField(min_value=1, max_value=24 * 366, label=gettext_lazy("Within (hours)"))
    starts = forms.ChoiceField(choices=ClockStart.choices, label=gettext_lazy("Counted from"))
    role = forms.ModelChoiceField(
        queryset=IncidentRole.objects.all(), required=False, label=gettext_lazy("Owner role")
    )
    notes = forms.CharField(max_length=500, required=False)


def _formset(form: type[forms.Form]) -> type[forms.BaseFormSet[Any]]:
    return forms.formset_factory(
        form, extra=0, can_delete=True, max_num=MAX_ROWS, validate_max=True, absolute_max=MAX_ROWS
    )


# prefix → (label, row form, formset class, one-line hint)
LISTS: dict[str, tuple[Promise, type[forms.BaseFormSet[Any]], Promise]] = {
    "roles": (
        gettext_lazy("Roles to fill"),
        _formset(RoleRow),
        gettext_lazy("Proposed when declaring; one click accepts the team."),
    ),
    "tasks": (
        gettext_lazy("Checklist"),
        _formset(TaskRow),
        gettext_lazy("Each becomes a task deadline, due this long after declaration."),
    ),
    "templates": (
        gettext_lazy("Statement templates"),
        _formset(TemplateRow),
        gettext_lazy("Offered first in the statement editor."),
    ),
    "contacts": (
        gettext_lazy("Key contacts"),
        _formset(ContactRow),
        gettext_lazy("Agencies, regulators, counsel, partners."),
    ),
    "injects": (
        gettext_lazy("Drill injects"),
        _formset(InjectRow),
        gettext_lazy("Scripted events that appear in a drill's timeline."),
    ),
    "clocks": (
        gettext_lazy("Regulatory clocks"),
        _formset(ClockRow),
        gettext_lazy(
            "Notifications the law requires by a time (GDPR Art. 33: 72 h from becoming aware); "
            "each becomes a deadline."
        ),
    ),
}


class EditorForms:
    """The playbook form plus one formset per list, bound together."""

    def __init__(
        self,
        data: Any = None,
        *,
        initial: dict[str, Any] | None = None,
        lists: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.main = PlaybookForm(data, initial=initial)
        self.sets = {
            prefix: cls(data, prefix=prefix, initial=(lists or {}).get(prefix))
            for prefix, (_label, cls, _hint) in LISTS.items()
        }

    def is_valid(self) -> bool:
        results = [self.main.is_valid()] + [fs.is_valid() for fs in self.sets.values()]
        return all(results)

    def sections(self) -> list[dict[str, Any]]:
        return [
            {"prefix": prefix, "label": label, "hint": hint, "formset": self.sets[prefix]}
            for prefix, (label, _cls, hint) in LISTS.items()
        ]

    def _rows(self, prefix: str) -> list[dict[str, Any]]:
        fs = self.sets[prefix]
        return [f.cleaned_data for f in fs.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]

    def content(self) -> Content:
        d = self.main.cleaned_data
        return Content(
            title_hint=d["title_hint"],
            description=d["description"],
            risk_notes=d["risk_notes"],
            default_severity=d["default_severity"],
            default_restricted=d["default_restricted"],
            platforms=tuple(d["platforms"]),
            approval_chain=d["approval_chain"],
            bridge_line=d["bridge_line"],
            chat_channel=d["chat_channel"],
            press_inbox=d["press_inbox"],
            other_channels=d["other_channels"],
            change_note=d["change_note"],
            roles=tuple(
                RoleSpec(role=r["role"], person=r["person"], backup=r["backup"]) for r in self._rows("roles")
            ),
            tasks=tuple(
                TaskSpec(
                    title=r["title"], offset_minutes=r["offset_minutes"], role=r["role"], notes=r["notes"]
                )
                for r in self._rows("tasks")
            ),
            templates=tuple(
                TemplateSpec(
                    name=r["name"],
                    channel=r["channel"],
                    audience=r["audience"],
                    title=r["title"],
                    body=r["body"],
                    guidance=r["guidance"],
                )
                for r in self._rows("templates")
            ),
            contacts=tuple(
                ContactSpec(
                    kind=r["kind"],
                    name=r["name"],
                    organisation=r["organisation"],
                    phone=r["phone"],
                    email=r["email"],
                    notes=r["notes"],
                )
                for r in self._rows("contacts")
            ),
            injects=tuple(
                InjectSpec(offset_seconds=r["offset_seconds"], kind=r["kind"], text=r["text"])
                for r in self._rows("injects")
            ),
            clocks=tuple(
                ClockSpec(
                    name=r["name"],
                    hours=r["hours"],
                    authority=r["authority"],
                    basis=r["basis"],
                    starts=r["starts"],
                    role=r["role"],
                    notes=r["notes"],
                )
                for r in self._rows("clocks")
            ),
        )


def initial_from(content: Content) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Editor initial data from a version's content (people as e-mails, as the inputs take them)."""

    def email(user: Any) -> str:
        return str(user.email) if user is not None else ""

    main = {name: getattr(content, name) for name in Content.SCALARS}
    main["approval_chain"] = content.approval_chain.pk if content.approval_chain else None
    main["platforms"] = list(content.platforms)
    main["change_note"] = ""
    lists: dict[str, list[dict[str, Any]]] = {
        "roles": [
            {"role": r.role.pk, "person": email(r.person), "backup": email(r.backup)} for r in content.roles
        ],
        "tasks": [
            {
                "title": t.title,
                "offset_minutes": t.offset_minutes,
                "role": t.role.pk if t.role else None,
                "notes": t.notes,
            }
            for t in content.tasks
        ],
        "templates": [
            {
                "name": t.name,
                "channel": t.channel,
                "audience": t.audience,
                "title": t.title,
                "body": t.body,
                "guidance": t.guidance,
            }
            for t in content.templates
        ],
        "contacts": [
            {
                "kind": c.kind,
                "name": c.name,
                "organisation": c.organisation,
                "phone": c.phone,
                "email": c.email,
                "notes": c.notes,
            }
            for c in content.contacts
        ],
        "injects": [
            {"offset_seconds": x.offset_seconds, "kind": x.kind, "text": x.text} for x in content.injects
        ],
        "clocks": [
            {
                "name": c.name,
                "authority": c.authority,
                "basis": c.basis,
                "hours": c.hours,
                "starts": c.starts,
                "role": c.role.pk if c.role else None,
                "notes": c.notes,
            }
            for c in content.clocks
        ],
    }
    return main, lists
