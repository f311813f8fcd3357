"""The response queue, hiding without deleting, declaring from a spike, drills and review figures.

One winner when two people claim a mention; replies from a template or an approved statement's exact text,
recorded on the timeline; a reply deadline per loud author through the deadlines machinery; hiding criticism
takes a reason and a second person and lands on the timeline; a spike becomes an incident with its own watch,
mentions and evidence (once, whoever clicks); drills inject labelled synthetic mentions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from incidents.listening.ingest import enrich_pending, ingest
from incidents.listening.metrics import listening_metrics
from incidents.listening.models import (
    AlertState,
    HideState,
    ItemState,
    Mention,
    MentionHide,
    ReplyTemplate,
    ResponseItem,
    SpikeAlert,
    Watch,
)
from incidents.listening.services import Conflict, ListeningError
from incidents.listening.services.alerts import alert_declare, alert_dismiss
from incidents.listening.services.drills import drill_spike_start, inject_due
from incidents.listening.services.moderation import hide_decide, hide_request, sentiment_tag
from incidents.listening.services.queue import item_claim, item_close, item_release, item_reply
from incidents.listening.spikes import check_watch
from incidents.models import Deadline, DeadlineState, OrgRole, TimelineEntry
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_listening import make_source, make_watch, record
from tests.factories_statements import fully_approved, make_cast, publish
from tests.helpers import race, snapshot

pytestmark = pytest.mark.django_db
TABLES = ["listening_mention", "listening_responseitem", "listening_mentionhide", "incidents_timelineentry"]


def team_incident(manager, **kwargs):
    incident = IncidentFactory.create(
        declared_by=manager, title="Checkout charged twice #NorthwindFail", **kwargs
    )
    social, other = (
        UserFactory.create(display_name="Sofia Social"),
        UserFactory.create(display_name="Erik Comms"),
    )
    give_role(incident, social, "social")
    give_role(incident, other, "comms-lead")
    watch = make_watch("#NorthwindFail", incident=incident, queue_min_reach=1000, sla_min_reach=50_000)
    return incident, watch, social, other


def storm(n: int = 5, **kwargs) -> None:
    source = make_source()
    ingest(
        source=source,
        records=[
            record(i, text=f"#NorthwindFail charged twice {i}", reach=2000 + i, **kwargs) for i in range(n)
        ],
    )


def test_claim_reply_and_close_with_the_timeline_and_a_deadline_per_loud_author(manager):
    incident, _watch, social, other = team_incident(manager)
    source = make_source()
    ingest(
        source=source,
        records=[
            record(1, text="#NorthwindFail x", reach=90_000, author_handle="@loud"),
            record(2, text="#NorthwindFail y", reach=91_000, author_handle="@loud"),
            record(3, text="#NorthwindFail z", reach=3_000, author_handle="@quiet"),
        ],
    )
    items = list(ResponseItem.objects.filter(incident=incident).order_by("-reach"))
    assert [i.reach for i in items] == [91_000, 90_000, 3_000]
    deadlines = Deadline.objects.filter(incident=incident, key__startswith="mention-reply:")
    assert list(deadlines.values_list("title", flat=True)) == [
        "Reply to @loud (reach 91,000)"
    ]  # one per author
    first, second, quiet = items
    item_claim(item=first, actor=social)
    template = ReplyTemplate.objects.get(name="Refund / double charge")
    item_reply(
        item=first,
        actor=social,
        text=template.text,
        posted_url="https://x.com/northwind/status/1",
        template=template,
    )
    # @loud got their answer in time.
    assert Deadline.objects.filter(pk=first.deadline_id or 0, state=DeadlineState.DONE).exists()
    entry = TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.ACTION).latest("seq")
    assert "Replied to @loud (reach 91,000) with template “Refund / double charge”" in entry.body
    assert "https://x.com/northwind/status/1" in entry.body
    item_claim(item=second, actor=other)
    item_reply(item=second, actor=other, text="Sorted in DM", posted_url="https://x.com/northwind/status/2")
    item_claim(item=quiet, actor=social)
    with pytest.raises(ListeningError, match="Choose why"):
        item_close(item=quiet, actor=social, reason="boring")
    item_close(item=quiet, actor=social, reason="no_action", note="A joke, not a complaint")
    states = dict(ResponseItem.objects.filter(incident=incident).values_list("reach", "state"))
    assert states == {91_000: ItemState.REPLIED, 90_000: ItemState.REPLIED, 3_000: ItemState.CLOSED}


def test_refused_replies_change_nothing(manager):
    incident, _watch, social, other = team_incident(manager)
    storm(1)
    item = ResponseItem.objects.get(incident=incident)
    item_claim(item=item, actor=social)
    before = snapshot(TABLES)
    with pytest.raises(Conflict, match="Sofia Social is answering"):
        item_reply(item=item, actor=other, text="Me too", posted_url="https://x.com/a/1")
    with pytest.raises(ListeningError, match="link"):
        item_reply(item=item, actor=social, text="Hi", posted_url="")
    with pytest.raises(ListeningError, match="http"):
        item_reply(item=item, actor=social, text="Hi", posted_url="javascript:alert(1)")
    with pytest.raises(Conflict, match="changed this item"):
        item_release(item=item, actor=social, expected_version=1)  # the claim made it version 2
    outsider = UserFactory.create()
    with pytest.raises(PermissionDenied):
        item_claim(item=item, actor=outsider)
    assert snapshot(TABLES) == before


@pytest.fixture
def chains(db):
    from incidents.models import ApprovalChainTemplate, ApprovalStepTemplate, IncidentRole, StatementTemplate
    from incidents.models.statement_seeds import ensure_statement_seeds

    ensure_statement_seeds(ApprovalChainTemplate, ApprovalStepTemplate, StatementTemplate, IncidentRole)


def test_an_approved_statement_is_used_word_for_word(chains):
    cast = make_cast(title="Checkout charged twice #NorthwindFail")
    make_watch("#NorthwindFail", incident=cast.incident)
    storm(1)
    item = ResponseItem.objects.get(incident=cast.incident)
    statement = fully_approved(cast)
    publish(cast, statement, link="https://x.com/northwind/status/9")
    version = statement.current_version
    assert version is not None
    item_claim(item=item, actor=cast.publisher)
    done = item_reply(
        item=item,
        actor=cast.publisher,
        text="edited on the way out",
        posted_url="https://x.com/r/1",
        statement_version=version,
    )
    assert done.reply_text == version.body  # the approved bytes, not what the form carried
    assert done.reply_version_id == version.pk


@pytest.mark.django_db(transaction=True)
def test_two_people_claiming_one_mention_one_wins(manager):
    incident, _watch, social, other = team_incident(manager)
    storm(1)
    item = ResponseItem.objects.get(incident=incident)
    results = race(2, lambda i: item_claim(item=item, actor=(social, other)[i]))
    winners = [r for r in results if isinstance(r, ResponseItem)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert "Already claimed by" in str(losers[0])
    item.refresh_from_db()
    assert item.state == ItemState.CLAIMED
    assert item.claimed_by_id == winners[0].claimed_by_id
    assert item.version == 2  # claimed once, not twice


def test_hiding_criticism_needs_a_reason_a_second_person_and_lands_on_the_timeline(manager):
    incident, _watch, social, other = team_incident(manager)
    storm(2, sentiment="negative")
    critic = Mention.objects.filter(incident=incident).order_by("pk").first()
    assert critic is not None
    before = snapshot(TABLES)
    with pytest.raises(ListeningError, match="Say why"):
        hide_request(mention=critic, actor=social, reason_kind="other", reason="  ")
    assert snapshot(TABLES) == before
    pending = hide_request(
        mention=critic, actor=social, reason_kind="other", reason="Repeats the same complaint"
    )
    assert MentionHide.objects.filter(pk=pending.pk, state=HideState.PENDING).exists()
    critic.refresh_from_db()
    assert not critic.is_hidden  # nothing hidden on one person's say
    asked = TimelineEntry.objects.filter(incident=incident).latest("seq")
    assert "asked to hide a critical mention" in asked.body
    with pytest.raises(ListeningError, match="second person"):
        hide_decide(hide=pending, actor=social, approve=True)
    with pytest.raises(PermissionDenied):  # a team member without a lead role cannot agree
        hide_decide(hide=pending, actor=other, approve=True)
    hide_decide(hide=pending, actor=manager, approve=True, note="Agreed, it is a copy")
    assert Mention.objects.get(pk=critic.pk).is_hidden
    agreed = TimelineEntry.objects.filter(incident=incident).latest("seq")
    assert "agreed to hide the mention" in agreed.body
    assert MentionHide.objects.get(pk=pending.pk).decided_by == manager
    assert Mention.objects.filter(pk=critic.pk).exists()  # hidden is a state: the mention is still there


def test_spam_is_hidden_at_once_and_closing_as_spam_hides_too(manager):
    incident, _watch, social, _other = team_incident(manager)
    storm(2, sentiment="negative")
    first, second = Mention.objects.filter(incident=incident).order_by("pk")
    done = hide_request(mention=first, actor=social, reason_kind="spam", reason="Bot network")
    assert done.state == HideState.DONE
    item = ResponseItem.objects.get(mention=second)
    item_claim(item=item, actor=social)
    item_close(item=item, actor=social, reason="abuse", note="Slurs")
    second.refresh_from_db()
    assert second.is_hidden
    assert MentionHide.objects.get(mention=second).reason_kind == "abuse"


def test_a_person_tags_sentiment_in_one_click_and_the_rollups_follow(manager):
    incident, watch, social, _other = team_incident(manager)
    storm(1, language="sv")
    enrich_pending()
    mention = Mention.objects.get(incident=incident)
    assert mention.sentiment == "unscored"
    sentiment_tag(mention=mention, actor=social, label="negative")
    mention.refresh_from_db()
    assert (mention.sentiment, mention.sentiment_by, mention.sentiment_set_by) == (
        "negative",
        "person",
        social,
    )
    rollup = watch.rollups.get()
    assert (rollup.negative, rollup.unscored, rollup.by_person) == (1, 0, 1)


def org_spike(*, observed: int = 60) -> tuple[Watch, SpikeAlert]:
    watch = make_watch("Northwind", name="Northwind brand")
    source = make_source()
    now = timezone.now()
    ingest(
        source=source,
        records=[
            record(
                i,
                text=f"Northwind checkout is down, charged twice {i}",
                published_at=now - timedelta(minutes=i % 50),
                reach=100 * i,
                sentiment="negative",
            )
            for i in range(observed)
        ],
    )
    [alert] = check_watch(watch)
    return watch, alert


def test_declaring_from_a_spike_builds_the_incident_once(manager):
    other_manager = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    watch, alert = org_spike()
    assert alert.state == AlertState.OPEN
    attach = alert.top_mentions[:2]
    incident = alert_declare(
        alert=alert,
        actor=manager,
        title="Checkout down",
        scenario="outage",
        severity="sev1",
        attach=attach,
        platforms=["x"],
    )
    assert incident.commander == manager
    assert incident.detected_at == alert.created_at
    own = Watch.objects.get(incident=incident)
    assert own.include_terms == watch.include_terms
    assert Mention.objects.filter(incident=incident).count() == 60  # the spike's mentions moved in with it
    assert sum(own.rollups.values_list("total", flat=True)) == 60
    assert ResponseItem.objects.filter(incident=incident).count() == 60  # all negative
    evidence = TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.EVIDENCE)
    assert evidence.count() == 2
    statuses = TimelineEntry.objects.filter(incident=incident, kind="status")
    assert statuses.filter(body__startswith="Declared from a spike alert").exists()
    alert.refresh_from_db()
    assert (alert.state, alert.incident_id, alert.decided_by_id) == (
        AlertState.DECLARED,
        incident.pk,
        manager.pk,
    )
    with pytest.raises(ListeningError, match="already declared"):
        alert_declare(alert=alert, actor=other_manager, title="Again", scenario="outage", severity="sev1")
    assert other_manager.notifications.filter(key=f"spike-declared:{alert.pk}").count() == 1


def test_dismissing_needs_a_reason_and_a_manager(manager, member):
    _watch, alert = org_spike()
    with pytest.raises(PermissionDenied):
        alert_dismiss(alert=alert, actor=member, reason="not a crisis")
    with pytest.raises(ListeningError, match="Say why"):
        alert_dismiss(alert=alert, actor=manager, reason=" ")
    done = alert_dismiss(alert=alert, actor=manager, reason="Our own campaign launch")
    assert (done.state, done.dismiss_reason) == (AlertState.DISMISSED, "Our own campaign launch")


def test_a_drill_spike_is_labelled_and_alerts_only_the_drill(manager):
    crisis_managers = [UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)]
    make_watch("Northwind", name="Real brand watch")
    drill = IncidentFactory.create(declared_by=manager, is_drill=True, title="Quarterly drill")
    with pytest.raises(ListeningError, match="drills only"):
        drill_spike_start(
            incident=IncidentFactory.create(declared_by=manager),
            actor=manager,
            total=10,
            minutes=1,
            negative_share=0.5,
        )
    spike = drill_spike_start(incident=drill, actor=manager, total=80, minutes=10, negative_share=0.8)
    assert inject_due(now=spike.starts_at + timedelta(minutes=5)) == 41
    assert inject_due(now=spike.starts_at + timedelta(minutes=10)) == 39
    assert inject_due(now=spike.starts_at + timedelta(minutes=11)) == 0
    mentions = Mention.objects.filter(incident=drill)
    assert mentions.count() == 80
    assert all(m.is_drill and m.text.startswith("[DRILL] ") and m.watch_ids == [] for m in mentions)
    [alert] = check_watch(spike.watch, now=spike.starts_at + timedelta(minutes=11))
    assert alert.is_drill
    assert alert.state == AlertState.NOTED  # on the drill's own timeline, for its team
    noted = TimelineEntry.objects.filter(incident=drill, kind=TimelineEntry.Kind.EXTERNAL).latest("seq")
    assert "Spike on" in noted.body
    assert manager.notifications.get(key=f"spike:{alert.pk}").text.startswith("[DRILL] ")
    assert not crisis_managers[0].notifications.exists()  # nobody outside the drill was alerted


def test_review_figures(manager):
    incident, watch, social, _other = team_incident(manager)
    alert = SpikeAlert.objects.create(
        watch=make_watch("Northwind"),
        kind="volume",
        state=AlertState.DECLARED,
        window_start=incident.declared_at - timedelta(hours=1),
        window_end=incident.declared_at,
        observed=50,
        expected=5,
        threshold=15,
        incident=incident,
        created_at=incident.declared_at - timedelta(minutes=12),
    )
    storm(4, sentiment="negative")
    items = list(ResponseItem.objects.filter(incident=incident).order_by("pk"))
    for item in items[:3]:
        item_claim(item=item, actor=social)
        item_reply(item=item, actor=social, text="Sorry", posted_url="https://x.com/n/1")
    figures = listening_metrics(incident)
    assert figures.alert_to_declared == timedelta(minutes=12)
    assert (figures.queued, figures.answered, figures.still_open) == (4, 3, 1)
    assert figures.answered_share == 0.75
    assert figures.total == 4
    assert figures.peak_5min >= 1
    assert figures.median_reply_from_post is not None
    assert figures.median_reply_from_post > timedelta(0)
    del alert, watch
