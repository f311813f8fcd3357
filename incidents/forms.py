from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from incidents.models import (
    PLACEHOLDERS,
    Audience,
    Channel,
    DrillSpeed,
    IncidentRole,
    Platform,
    Scenario,
    Severity,
    StatementTemplate,
    Status,
    TimelineEntry,
    User,
)
from incidents.models.statement_text import LANGUAGES as STATEMENT_LANGUAGES
from incidents.models.statement_text import MAX_BODY as MAX_STATEMENT_BODY
from incidents.models.statement_text import MAX_FILL
from incidents.models.users import time_zone_choices
from incidents.typed_time import ROLLOVER_CONFIRM, Typed, TypedTimeField, ask_about_rollover
from incidents.uploads import MAX_FILES, CleanFile, UploadRejected, clean_upload


def _role_choices() -> Any:
    return IncidentRole.objects.filter(is_command=False)


def person_choice(user: User) -> str:
    """How a picked person reads in a field: their name and e-mail ("Priya Raman <priya@…>")."""
    return f"{user.display_name} <{user.email}>" if user.display_name else user.email


class PersonField(forms.CharField):
    """A person picked by name or e-mail (the type-ahead offers "Name <e-mail>"); cleans to an active User.

    An e-mail (alone or in angle brackets) names exactly one person; a name typed in full does too when
    only one active person has it — several, and the field asks which, by e-mail."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> User | None:
        raw = " ".join(str(super().clean(value) or "").split())
        if not raw:
            return None
        people = User.objects.filter(is_active=True)
        if "@" in raw:
            email = raw.split("<")[-1].rstrip(">").strip()
            user = people.filter(email__iexact=email).first()
            if user is None:
                raise forms.ValidationError(
                    _("Nobody with an active account uses “%(email)s”.") % {"email": email}
                )
            return user
        named = list(people.filter(display_name__iexact=raw).order_by("email")[:5])
        if len(named) == 1:
            return named[0]
        if named:
            raise forms.ValidationError(
                _("Several people are called “%(name)s”: choose one by e-mail (%(emails)s).")
                % {"name": raw, "emails": ", ".join(u.email for u in named)}
            )
        raise forms.ValidationError(
            _("Nobody active is called “%(name)s”. Type part of a name or e-mail and pick from the list.")
            % {"name": raw}
        )


class SeverityRadio(forms.RadioSelect):
    option_template_name = "incidents/widgets/severity_option.html"


class DeclareForm(forms.Form):
    """Only the title, scenario and severity are required: a stressed person must be done in seconds."""

    title = forms.CharField(
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "placeholder": gettext_lazy("e.g. Checkout outage: customers charged twice"),
            }
        ),
    )
    scenario = forms.ChoiceField(choices=Scenario.choices, widget=forms.RadioSelect)
    severity = forms.ChoiceField(choices=Severity.choices, widget=SeverityRadio)
    summary = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": gettext_lazy("What do we know so far? Links, reach, who raised it."),
            }
        ),
    )
    affected_platforms = forms.MultipleChoiceField(
        choices=Platform.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    detected_at = forms.DateTimeField(
        required=False,
        label=gettext_lazy("Detected at"),
        help_text=gettext_lazy(
            "Leave empty for “now”. Use it when the problem surfaced before you declared."
        ),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    commander = PersonField(
        required=False,
        label=gettext_lazy("Incident commander"),
        help_text=gettext_lazy(
            "Leave empty to command it yourself; if you name someone else, you stay on as deputy."
        ),
    )
    is_drill = forms.BooleanField(required=False, label=gettext_lazy("This is a drill"))
    drill_speed = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=int(DrillSpeed.REAL),  # type: ignore[arg-type]  # stubs say str; Django takes any
        initial=DrillSpeed.REAL,
        choices=[
            (DrillSpeed.REAL, gettext_lazy("×1 — real time")),
            (DrillSpeed.X5, gettext_lazy("×5 — 12 minutes here are an hour")),
            (DrillSpeed.X10, gettext_lazy("×10 — 6 minutes here are an hour")),
            (DrillSpeed.X30, gettext_lazy("×30 — 2 minutes here are an hour")),
        ],
        label=gettext_lazy("Drill speed"),
        help_text=gettext_lazy(
            "Injects, the first-response SLA, the update cadence, tasks and approval SLAs all come this many "
            "times sooner, so a drill fits in a training hour. Real incidents always run in real time."
        ),
    )
    is_restricted = forms.BooleanField(
        required=False,
        label=gettext_lazy("Restricted"),
        help_text=gettext_lazy("Only the incident team will see it (e.g. a data breach)."),
    )
    # The playbook chosen first (if any) and the version the declarer was shown: that one is recorded.
    playbook = forms.UUIDField(required=False, widget=forms.HiddenInput)
    playbook_version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    accept_team = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Bring in this team"))

    INCIDENT_FIELDS = (
        "title",
        "severity",
        "summary",
        "affected_platforms",
        "detected_at",
        "is_drill",
        "is_restricted",
        "commander",
        "drill_speed",
    )

    def __init__(self, *args: Any, team: Any = (), **kwargs: Any) -> None:
        """`team`: the playbook's role slots (PlaybookRole rows, and unsaved ones for roles its approval
        chains need); each gets a person and a backup field, pre-filled with the proposal (`proposed`, else
        the playbook's person). With a playbook, the scenario comes from it."""
        super().__init__(*args, **kwargs)
        self.team_slots = list(team)
        for slot in self.team_slots:
            key = self.slot_key(slot)
            person = getattr(slot, "proposed", None) or slot.person
            self.fields[f"person_{key}"] = PersonField(
                required=False,
                label=slot.role.name,
                initial=person_choice(person) if person and person.is_active else "",
                widget=forms.TextInput(
                    attrs={
                        "list": "declare-people",
                        "autocomplete": "off",
                        "placeholder": gettext_lazy("Nobody yet"),
                    }
                ),
            )
            self.fields[f"backup_{key}"] = PersonField(
                required=False,
                label=_("Backup for %(role)s") % {"role": slot.role.name},
                initial=person_choice(slot.backup) if slot.backup and slot.backup.is_active else "",
                widget=forms.TextInput(
                    attrs={
                        "list": "declare-people",
                        "autocomplete": "off",
                        "placeholder": gettext_lazy("No backup"),
                    }
                ),
            )
        if self.team_slots or self.initial.get("playbook"):  # the view sets it only for a real playbook
            self.fields["scenario"].required = False

    @staticmethod
    def slot_key(slot: Any) -> str:
        """A playbook slot by its id; a role the chains need (not a row) by its role."""
        return str(slot.pk) if slot.pk else f"role{slot.role_id}"

    def team_rows(self) -> list[tuple[Any, forms.BoundField, forms.BoundField]]:
        return [
            (slot, self[f"person_{self.slot_key(slot)}"], self[f"backup_{self.slot_key(slot)}"])
            for slot in self.team_slots
        ]

    def team_choices(self) -> list[tuple[Any, Any, Any]]:
        """(slot, person, backup) as the declarer left them; nothing when they unticked the team."""
        if not self.cleaned_data.get("accept_team"):
            return []
        return [
            (
                slot,
                self.cleaned_data.get(f"person_{self.slot_key(slot)}"),
                self.cleaned_data.get(f"backup_{self.slot_key(slot)}"),
            )
            for slot in self.team_slots
        ]

    def incident_kwargs(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in self.INCIDENT_FIELDS} | {
            "affected_platforms": self.cleaned_data.get("affected_platforms") or [],
            "summary": self.cleaned_data.get("summary") or "",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for slot in self.team_slots:
            key = self.slot_key(slot)
            person, backup = data.get(f"person_{key}"), data.get(f"backup_{key}")
            if person is not None and backup is not None and person.pk == backup.pk:
                self.add_error(f"backup_{key}", _("Nobody can be their own backup."))
        if not data.get("is_drill"):
            # The speed is a drill's; a real incident keeps real times whatever the form said.
            data["drill_speed"] = DrillSpeed.REAL
        return data

    def clean_title(self) -> str:
        title: str = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError(_("Give the incident a short title."))
        return title

    def clean_detected_at(self) -> Any:
        detected = self.cleaned_data.get("detected_at")
        if detected and detected > timezone.now() + timedelta(minutes=1):
            raise forms.ValidationError(_("Detection cannot be in the future."))
        return detected


class StatusChangeForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    # The status the user saw when they clicked; a mismatch means a colleague was faster.
    expected = forms.ChoiceField(choices=Status.choices)
    note = forms.CharField(required=False, max_length=500)


class SeverityChangeForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices)
    expected = forms.ChoiceField(choices=Severity.choices)
    note = forms.CharField(required=False, max_length=500)


class RestrictionChangeForm(forms.Form):
    VISIBILITY = (
        ("restricted", gettext_lazy("Restricted to the team")),
        ("open", gettext_lazy("Visible to everyone")),
    )
    visibility = forms.ChoiceField(choices=VISIBILITY)
    # What the user saw when they clicked; a mismatch means someone else changed it meanwhile.
    expected = forms.ChoiceField(choices=VISIBILITY)
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500, strip=True)


class ProfileForm(forms.ModelForm[User]):
    time_zone = forms.ChoiceField(choices=time_zone_choices)

    class Meta:
        model = User
        fields = ["display_name", "phone", "time_zone", "language"]


__all__ = ["DeclareForm", "ProfileForm", "RestrictionChangeForm", "SeverityChangeForm", "StatusChangeForm"]


class AddMemberForm(forms.Form):
    person = PersonField(
        label=gettext_lazy("Person"),
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Name or e-mail")}),
    )
    role = forms.ModelChoiceField(queryset=IncidentRole.objects.none(), empty_label=None)
    backup = PersonField(label=gettext_lazy("Backup (optional)"), required=False)
    note = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = _role_choices()  # type: ignore[attr-defined]


class HandoverForm(forms.Form):
    to = PersonField(label=gettext_lazy("Hand over to"))
    note = forms.CharField(required=False, max_length=500, label=gettext_lazy("Handover note"))
    stay_as = forms.ModelChoiceField(queryset=IncidentRole.objects.none(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stay_as"].queryset = _role_choices()  # type: ignore[attr-defined]


class BackupForm(forms.Form):
    backup = PersonField(label=gettext_lazy("Backup"), required=False)


class NoteForm(forms.Form):
    note = forms.CharField(required=False, max_length=500)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".png,.jpg,.jpeg,.webp,.pdf"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class TimelineEntryForm(forms.Form):
    """The composer. Only the shape is checked here; the service decides what may be written."""

    kind = forms.ChoiceField(
        choices=[(k, TimelineEntry.Kind(k).label) for k in TimelineEntry.POSTABLE],
        initial=TimelineEntry.Kind.NOTE,
    )
    body = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": gettext_lazy("What happened, what was decided, what was said publicly…"),
            }
        ),
    )
    occurred_at = forms.DateTimeField(
        required=False,
        label=gettext_lazy("Happened at"),
        help_text=gettext_lazy("Only if it happened before now (it will be marked as backdated)."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    is_privileged = forms.BooleanField(required=False, label=gettext_lazy("Legal privilege"))
    evidence = MultipleFileField(
        required=False, label=gettext_lazy("Evidence (PNG, JPEG, WebP or PDF, up to 10 MB each)")
    )
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def clean_evidence(self) -> list[CleanFile]:
        uploads = self.cleaned_data.get("evidence") or []
        if len(uploads) > MAX_FILES:
            raise forms.ValidationError(
                ngettext(
                    "Attach at most %(n)s file to one entry.",
                    "Attach at most %(n)s files to one entry.",
                    MAX_FILES,
                )
                % {"n": MAX_FILES}
            )
        cleaned = []
        for upload in uploads:
            try:
                cleaned.append(clean_upload(upload))
            except UploadRejected as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned


class CorrectionForm(forms.Form):
    body = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    retract = forms.BooleanField(required=False)
    idempotency_key = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)


# --- statements ------------------------------------------------------------------------------------------

# Raw input may carry more than the canonical text (trailing spaces, CRLF); the service counts what remains.
_MAX_RAW_BODY = 2 * MAX_STATEMENT_BODY


class StatementCreateForm(forms.Form):
    """A new statement: from a template (placeholders filled), blank, a variant, or an update."""

    template = forms.ModelChoiceField(
        queryset=StatementTemplate.objects.filter(is_active=True), required=False, widget=forms.HiddenInput
    )
    title = forms.CharField(
        max_length=200,
        required=False,
        label=gettext_lazy("Working title"),
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("e.g. Holding statement on the checkout outage")}
        ),
    )
    channel = forms.ChoiceField(choices=[("", "Choose a channel…"), *Channel.choices], required=False)
    # A template brings its own channel, audience and language; the template form does not send them.
    audience = forms.ChoiceField(choices=Audience.choices, initial=Audience.PUBLIC, required=False)
    language = forms.ChoiceField(choices=STATEMENT_LANGUAGES, initial="en", required=False)
    body = forms.CharField(
        required=False,
        strip=False,
        max_length=_MAX_RAW_BODY,
        label=gettext_lazy("Text"),
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    master = forms.UUIDField(required=False, widget=forms.HiddenInput)
    supersedes = forms.UUIDField(required=False, widget=forms.HiddenInput)
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    # The promised next update is a time, asked once here: it fills the text and becomes the deadline when
    # the statement is published (the publish form does not ask again).
    next_update_tomorrow = forms.BooleanField(required=False, label=ROLLOVER_CONFIRM)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in PLACEHOLDERS.items():
            self.fields[f"fill_{name}"] = forms.CharField(
                required=False,
                max_length=MAX_FILL,
                label=label,
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
            )
        self.fields["fill_next_update_time"] = TypedTimeField(
            required=False, label=PLACEHOLDERS["next_update_time"]
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        ask_about_rollover(self, "fill_next_update_time", "next_update_tomorrow")
        return data

    def fill(self) -> dict[str, str]:
        """The blanks as typed; the next update is a moment (`next_update_at`), not a text."""
        return {
            name: self.cleaned_data.get(f"fill_{name}") or ""
            for name in PLACEHOLDERS
            if name != "next_update_time"
        }

    def next_update_at(self) -> datetime | None:
        typed = self.cleaned_data.get("fill_next_update_time")
        return typed.at if isinstance(typed, Typed) else None

    def fill_fields(self, names: list[str]) -> list[forms.BoundField]:
        return [self[f"fill_{name}"] for name in names if name in PLACEHOLDERS]


class StatementSaveForm(forms.Form):
    version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    body = forms.CharField(required=False, strip=False, max_length=_MAX_RAW_BODY, widget=forms.Textarea)


class StatementVersionForm(forms.Form):
    """The version the user was looking at (submit, comment) — a mismatch is refused, never guessed."""

    version = forms.IntegerField(min_value=1)


class StatementDecisionForm(StatementVersionForm):
    sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", required=False)
    step = forms.IntegerField(min_value=1, required=False)
    where = forms.ChoiceField(
        choices=[("page", "page"), ("room", "room"), ("queue", "queue")], required=False
    )
    # A backup deciding for this approver once the step's SLA has passed (the service checks it all).
    on_behalf_of = forms.ModelChoiceField(queryset=User.objects.all(), required=False)


class StatementRejectForm(StatementDecisionForm):
    reason = forms.CharField(
        max_length=2000,
        error_messages={
            "required": gettext_lazy("Give a reason for rejecting; the author needs it to fix the text.")
        },
    )


class StatementPublishForm(StatementVersionForm):
    channel = forms.ChoiceField(choices=Channel.choices)
    published_at = forms.DateTimeField(
        required=False,
        label=gettext_lazy("Went out at"),
        help_text=gettext_lazy("Leave empty for “now”."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    link = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label=gettext_lazy("Link to the post")
    )
    # Asked only when the text itself promised no time (a template's blank asks it once, when drafting).
    next_update_at = TypedTimeField(required=False, label=gettext_lazy("Next update promised at"))
    next_update_tomorrow = forms.BooleanField(required=False, label=ROLLOVER_CONFIRM)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        ask_about_rollover(self, "next_update_at", "next_update_tomorrow")
        return data

    def promised(self) -> datetime | None:
        typed = self.cleaned_data.get("next_update_at")
        return typed.at if isinstance(typed, Typed) else None


class StatementWithdrawForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        error_messages={
            "required": gettext_lazy(
                "Give a reason for withdrawing it; it is recorded and shown to the team."
            )
        },
    )


class StatementCommentForm(StatementVersionForm):
    body = forms.CharField(
        max_length=4000, error_messages={"required": gettext_lazy("Write a comment first.")}
    )
