"""Forms of the listening pages. Services re-check everything; these only turn POST data into values."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from incidents.listening.models import (
    SCORED,
    CloseReason,
    HideReason,
    MentionPlatform,
    Sentiment,
    Source,
    SourceKind,
    Watch,
)
from incidents.models import Platform, Scenario, Severity

SOURCE_KINDS = [(k, label) for k, label in SourceKind.choices if k != SourceKind.DRILL]


class VersionedForm(forms.Form):
    version = forms.IntegerField(
        min_value=1, error_messages={"required": _("The page is out of date; reload it.")}
    )


class ReplyForm(VersionedForm):
    use = forms.CharField(required=False)  # "template:<id>", "statement:<version id>" or blank (own words)
    text = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    posted_url = forms.CharField(
        max_length=1000, error_messages={"required": _("Paste the link to the reply where it was posted.")}
    )


class CloseForm(VersionedForm):
    reason = forms.ChoiceField(
        choices=CloseReason.choices, error_messages={"required": _("Choose why it needs no answer.")}
    )
    note = forms.CharField(required=False, max_length=500)


class HideForm(forms.Form):
    reason_kind = forms.ChoiceField(choices=HideReason.choices, error_messages={"required": _("Choose why.")})
    reason = forms.CharField(
        max_length=500,
        error_messages={"required": _("Say why it should be hidden; the reason is kept with it.")},
    )


class SentimentForm(forms.Form):
    label = forms.ChoiceField(choices=[(s, Sentiment(s).label) for s in SCORED])


class DismissForm(forms.Form):
    reason = forms.CharField(
        max_length=500, error_messages={"required": _("Say why this spike needs no incident.")}
    )


class DeclareForm(forms.Form):
    title = forms.CharField(max_length=200, error_messages={"required": _("Give the incident a title.")})
    scenario = forms.ChoiceField(choices=Scenario.choices)
    severity = forms.ChoiceField(choices=Severity.choices)
    summary = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
    platforms = forms.MultipleChoiceField(choices=Platform.choices, required=False)
    attach = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=())
    playbook = forms.CharField(required=False)
    is_restricted = forms.BooleanField(required=False)

    def __init__(self, *args: Any, mention_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["attach"].choices = [(m, str(m)) for m in mention_ids]  # type: ignore[attr-defined]


class WatchForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=120, error_messages={"required": _("Give the watch a name.")}
    )
    include_terms = forms.CharField(
        label=_("Listen for"),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Give at least one term to listen for.")},
        help_text=_("One per line: brand and product names, @handles, #hashtags, phrases."),
    )
    exclude_terms = forms.CharField(
        label=_("But not"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line: terms that make a mention not about us (e.g. a namesake)."),
    )
    min_volume = forms.IntegerField(
        label=_("Never alert below (mentions an hour)"), min_value=1, max_value=100_000, initial=10
    )
    negative_share = forms.FloatField(
        label=_("Alert when the negative share reaches"),
        min_value=0.05,
        max_value=1,
        initial=0.5,
        help_text=_(
            "A fraction: 0.5 is half of the scored mentions, and only when that is well above usual."
        ),
    )
    queue_min_reach = forms.IntegerField(
        label=_("Queue incident mentions with reach from"),
        min_value=0,
        initial=1000,
        help_text=_("Negative ones are queued whatever their reach."),
    )
    sla_min_reach = forms.IntegerField(
        label=_("Reply deadline for reach from"),
        min_value=0,
        initial=10_000,
        help_text=_("Due by the severity's reply SLA, reminded and escalated like every deadline."),
    )

    @classmethod
    def initial_for(cls, watch: Watch) -> dict[str, Any]:
        return {
            "name": watch.name,
            "include_terms": "\n".join(watch.include_terms),
            "exclude_terms": "\n".join(watch.exclude_terms),
            "min_volume": watch.min_volume,
            "negative_share": watch.negative_share,
            "queue_min_reach": watch.queue_min_reach,
            "sla_min_reach": watch.sla_min_reach,
        }


class SourceForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=120, error_messages={"required": _("Give the source a name.")}
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=SOURCE_KINDS)
    platform = forms.ChoiceField(
        label=_("Platform"),
        choices=MentionPlatform.choices,
        initial=MentionPlatform.NEWS,
        help_text=_("For mentions that do not say (links to known networks are recognised)."),
    )
    url = forms.CharField(
        label=_("Address"),
        required=False,
        max_length=500,
        help_text=_("Feeds: the feed's URL. Mastodon: the server, e.g. https://mastodon.social."),
    )
    tag = forms.CharField(label=_("Mastodon hashtag"), required=False, max_length=100)
    query = forms.CharField(label=_("Mastodon search (needs a token)"), required=False, max_length=200)
    access_token = forms.CharField(
        label=_("Mastodon access token"),
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Left blank on an edit, the stored one is kept."),
    )
    watch = forms.ModelChoiceField(
        label=_("Every mention counts for"),
        queryset=Watch.objects.none(),
        required=False,
        help_text=_("Optional: e.g. a listening tool's project that is already about us."),
    )
    poll_interval_seconds = forms.IntegerField(
        label=_("Poll every (seconds)"), min_value=60, max_value=86_400, initial=300
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["watch"].queryset = Watch.objects.filter(is_active=True, incident__isnull=True)  # type: ignore[attr-defined]

    @classmethod
    def initial_for(cls, source: Source) -> dict[str, Any]:
        return {
            "name": source.name,
            "kind": source.kind,
            "platform": source.platform,
            "url": source.url,
            "tag": source.tag,
            "query": source.query,
            "watch": source.watch_id,
            "poll_interval_seconds": source.poll_interval_seconds,
        }


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV export"), error_messages={"required": _("Choose the exported CSV file.")}
    )
    time_zone = forms.CharField(
        label=_("Time zone of its dates"),
        max_length=64,
        initial="UTC",
        help_text=_("Used for dates in the file that do not name their zone, e.g. Europe/Warsaw."),
    )


class DrillForm(forms.Form):
    total = forms.IntegerField(min_value=1, max_value=2000, initial=150)
    minutes = forms.IntegerField(min_value=1, max_value=120, initial=10)
    negative_share = forms.FloatField(min_value=0, max_value=1, initial=0.7)
