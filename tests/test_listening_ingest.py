"""Storing mentions: once per (source, id), all of a batch or none of it, rollups equal to the rows they count
(also under six concurrent deliveries of one batch), scoring after the fact moving the counts, and no delete."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from incidents.listening.ingest import enrich_pending, ingest, rollup_rebuild
from incidents.listening.models import Mention, MentionRollup, ScoredBy, Sentiment, SourceKind, Watch
from incidents.listening.records import IngestError, build_records, canonical_record, item_label
from tests.factories import IncidentFactory
from tests.factories_listening import make_source, make_watch, payload_item, record
from tests.helpers import race, snapshot

pytestmark = pytest.mark.django_db

TABLES = ["listening_mention", "listening_mentionrollup", "listening_responseitem", "listening_source"]


def rollup_totals(watch: Watch) -> dict[str, int]:
    sums = MentionRollup.objects.filter(watch=watch).aggregate(
        total=Sum("total"),
        negative=Sum("negative"),
        pending=Sum("pending"),
        positive=Sum("positive"),
        neutral=Sum("neutral"),
        unscored=Sum("unscored"),
        by_model=Sum("by_model"),
        by_source=Sum("by_source"),
    )
    return {k: v or 0 for k, v in sums.items()}


def counted(watch: Watch) -> dict[str, int]:
    """What the rollups should say, counted from the mentions themselves."""
    rows = Mention.objects.filter(watch_ids__contains=[watch.pk]) | Mention.objects.filter(
        incident_watch=watch
    )
    result = {s: rows.filter(sentiment=s).count() for s in Sentiment.values}
    result["total"] = rows.count()
    return result


def test_a_batch_is_stored_once_and_the_rollups_count_exactly_what_was_stored():
    watch = make_watch("Northwind")
    source = make_source()
    batch = [record(n, sentiment="negative" if n % 3 == 0 else None) for n in range(40)]
    first = ingest(source=source, records=batch)
    assert (first.received, first.stored, first.duplicates) == (40, 40, 0)
    again = ingest(source=source, records=[*batch, record(40)])
    assert (again.stored, again.duplicates) == (1, 40)
    assert Mention.objects.count() == 41
    totals = rollup_totals(watch)
    assert totals["total"] == 41
    assert totals["negative"] == 14
    assert totals["pending"] == 27
    assert totals["by_source"] == 14
    source.refresh_from_db()
    assert source.total_stored == 41
    assert source.last_success_at is not None


def test_mentions_match_watches_by_whole_words_and_exclusions():
    brand = make_watch("Northwind", "@northwind", exclude_terms=["Northwind Grill"])
    tag = make_watch("#NorthwindFail")
    source = make_source()
    ingest(
        source=source,
        records=[
            record(1, text="Northwind charged me twice"),
            record(2, text="Lunch at the Northwind Grill was great"),  # excluded
            record(3, text="Northwinds of change"),  # not the whole word
            record(4, text="so much for @northwind support"),
            record(5, text="#NorthwindFail again"),  # "Northwind" is not a word of it
            record(6, text="Northwind #NorthwindFail"),  # both watches count it
        ],
    )
    by_id = {m.external_id: m.watch_ids for m in Mention.objects.all()}
    assert by_id == {
        "m-1": [brand.pk],
        "m-2": [],
        "m-3": [],
        "m-4": [brand.pk],
        "m-5": [tag.pk],
        "m-6": [brand.pk, tag.pk],
    }
    assert rollup_totals(brand)["total"] == 3
    assert rollup_totals(tag)["total"] == 2


def test_exclusions_veto_in_any_case_but_only_as_whole_words_and_a_bound_watch_joins_in_id_order():
    # A case-changed exclusion vetoes; an exclusion that is only part of a word does not.
    tag = make_watch("#NorthwindFail")
    brand = make_watch("Northwind", exclude_terms=["Northwind Grill", "#ad"])
    source = make_source(watch=make_watch("Jackets"))  # an organisation watch the source is bound to
    bound = source.watch
    assert bound is not None
    assert tag.pk < brand.pk < bound.pk
    ingest(
        source=source,
        records=[
            record(1, text="NORTHWIND GRILL is closed today"),  # excluded, whatever the case
            record(2, text="Dinner at the Northwind Grillhouse"),  # "Grill" is not a whole word here
            record(3, text="Northwind #adventure boots"),  # "#ad" is not a whole word of "#adventure"
            record(4, text="Northwind boots #AD"),  # excluded
            record(5, text="#NorthwindFail and Northwind"),  # both, and the bound watch: in id order
            record(6, text="nothing of ours"),  # only the bound watch
        ],
    )
    by_id = {m.external_id: m.watch_ids for m in Mention.objects.all()}
    assert by_id == {
        "m-1": [bound.pk],
        "m-2": [brand.pk, bound.pk],
        "m-3": [brand.pk, bound.pk],
        "m-4": [bound.pk],
        "m-5": [tag.pk, brand.pk, bound.pk],
        "m-6": [bound.pk],
    }
    assert rollup_totals(brand)["total"] == 3
    assert rollup_totals(bound)["total"] == 6
    assert rollup_totals(tag)["total"] == 1


def test_an_incident_watch_takes_its_mentions_into_the_incident_and_queues_the_loud_ones(manager):
    incident = IncidentFactory.create(declared_by=manager)
    own = make_watch("#NorthwindFail", incident=incident, queue_min_reach=5000)
    org = make_watch("Northwind")
    source = make_source()
    ingest(
        source=source,
        records=[
            record(1, text="Northwind #NorthwindFail", reach=90_000),
            record(2, text="#NorthwindFail lol", reach=10),
            record(3, text="#NorthwindFail worst", reach=10, sentiment="negative"),
            record(4, text="Northwind is fine", reach=90_000),
        ],
    )
    mentions = {m.external_id: m for m in Mention.objects.all()}
    assert mentions["m-1"].watch_ids == [org.pk]
    assert mentions["m-1"].incident_watch_id == own.pk
    assert mentions["m-1"].incident_id == incident.pk
    assert mentions["m-4"].incident_id is None
    queued = set(incident.response_items.values_list("mention__external_id", flat=True))
    assert queued == {"m-1", "m-3"}  # loud, or labelled negative by the source
    assert rollup_totals(own)["total"] == 3
    assert rollup_totals(org)["total"] == 2


def test_a_bad_item_refuses_the_whole_batch_and_names_it():
    make_source()
    items = [
        payload_item(1),
        payload_item(2, published_at="31.13.2026 25:00"),
        payload_item(3, url="javascript:alert(1)"),
        payload_item(4, text=""),
    ]
    before = snapshot(TABLES)
    with pytest.raises(IngestError) as caught:
        build_records(items, to_record=lambda i: canonical_record(i, default_platform="x"), label=item_label)
    message = str(caught.value)
    assert "item 2 (id “bw-2”): date “31.13.2026 25:00” is not a date" in message
    assert "item 3 (id “bw-3”): link “javascript:alert(1)” is not an http(s) address" in message
    assert "item 4 (id “bw-4”): no text" in message
    assert "Nothing of this batch was stored" in message
    assert snapshot(TABLES) == before


def test_a_batch_naming_one_id_twice_is_refused():
    with pytest.raises(IngestError, match=r"item 2 .*the same id as item 1"):
        build_records(
            [payload_item(1), payload_item(1)],
            to_record=lambda i: canonical_record(i, default_platform="x"),
            label=item_label,
        )


def test_a_database_error_mid_batch_stores_nothing():
    make_watch("Northwind")
    source = make_source()
    before = snapshot(TABLES)
    too_long = record(2, platform="x" * 40)  # longer than the column: PostgreSQL refuses the COPY
    with pytest.raises(DatabaseError):
        ingest(source=source, records=[record(1), too_long, record(3)])
    assert snapshot(TABLES) == before


def test_scoring_after_the_fact_moves_the_counts_and_detects_languages():
    watch = make_watch("Northwind")
    source = make_source()
    ingest(
        source=source,
        records=[
            record(1, text="Northwind charged me twice and support is useless, terrible experience"),
            record(2, text="Thank you Northwind, the refund arrived quickly, great service!"),
            record(3, text="Northwind pobrał pieniądze dwa razy i nikt nie odpowiada na wiadomości"),
            record(4, text="Northwind", sentiment="neutral"),
        ],
    )
    assert enrich_pending() == 3
    assert enrich_pending() == 0
    m = {x.external_id: x for x in Mention.objects.all()}
    assert (m["m-1"].sentiment, m["m-1"].sentiment_by, m["m-1"].language) == (
        Sentiment.NEGATIVE,
        ScoredBy.MODEL,
        "en",
    )
    assert m["m-2"].sentiment == Sentiment.POSITIVE
    assert (m["m-3"].sentiment, m["m-3"].language, m["m-3"].language_by) == (
        Sentiment.UNSCORED,
        "pl",
        "detector",
    )
    assert m["m-4"].sentiment_by == ScoredBy.SOURCE
    totals = rollup_totals(watch)
    assert totals == {
        **totals,
        "total": 4,
        "pending": 0,
        "negative": 1,
        "positive": 1,
        "unscored": 1,
        "neutral": 1,
        "by_model": 2,
        "by_source": 1,
    }


def test_rollup_rebuild_agrees_with_incremental_counts():
    watch = make_watch("Northwind")
    source = make_source()
    now = timezone.now()
    ingest(source=source, records=[record(n, published_at=now - timedelta(minutes=7 * n)) for n in range(30)])
    enrich_pending()
    before = list(
        MentionRollup.objects.filter(watch=watch)
        .order_by("bucket")
        .values_list("bucket", "total", "negative", "neutral", "positive")
    )
    with transaction.atomic():
        rollup_rebuild(watch=watch, since=now - timedelta(days=1))
    after = list(
        MentionRollup.objects.filter(watch=watch)
        .order_by("bucket")
        .values_list("bucket", "total", "negative", "neutral", "positive")
    )
    assert before == after
    assert sum(r[1] for r in after) == 30


def test_mentions_are_never_deleted():
    make_watch("Northwind")
    source = make_source()
    ingest(source=source, records=[record(1)])
    with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic():
        Mention.objects.all().delete()
    with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic(), connection.cursor() as c:
        c.execute("DELETE FROM listening_mention")
    assert Mention.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_six_concurrent_deliveries_of_one_batch_store_it_once():
    watch = make_watch("Northwind")
    source = make_source(kind=SourceKind.WEBHOOK)
    batch = [record(n, sentiment="negative" if n % 2 else "positive") for n in range(300)]
    # The same batch in different orders, as retries of a sender would arrive: no deadlock either way.
    orders = [batch, list(reversed(batch)), batch[150:] + batch[:150], batch, list(reversed(batch)), batch]
    results = race(6, lambda i: ingest(source=source, records=orders[i]))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r.stored for r in results if not isinstance(r, BaseException)) == 300
    assert Mention.objects.count() == 300
    totals = rollup_totals(watch)
    assert totals["total"] == 300
    assert totals["negative"] == 150
    assert totals["positive"] == 150
    assert counted(watch)["total"] == 300
    source.refresh_from_db()
    assert source.total_stored == 300
