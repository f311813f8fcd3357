"""The model-level rules of statements: canonical text and its hash, channel limits, template fills, the
seeds, and the transition table."""

from __future__ import annotations

import hashlib

import pytest

from incidents.models import (
    ApprovalChainTemplate,
    ApprovalStepTemplate,
    IncidentRole,
    InvalidTransition,
    Statement,
    StatementTemplate,
    TextRefused,
    canonical_text,
    text_sha256,
)
from incidents.models.statement_seeds import SEEDED_TEMPLATES, ensure_statement_seeds
from incidents.models.statement_text import check_text, fill_template, is_template_fill
from tests.factories_statements import (
    S,
)
from tests.factories_statements import seeded as seeded


def test_canonical_text_and_its_hash_are_exactly_the_published_bytes():
    raw = "  Cafe\u0301 update  \r\nline two\t \r\n\r\n"
    canonical = canonical_text(raw)
    assert canonical == "Café update\nline two"
    assert canonical == canonical_text(canonical)  # idempotent
    assert text_sha256(canonical) == hashlib.sha256("Café update\nline two".encode()).hexdigest()
    assert canonical_text("a\rb") == "a\nb"


@pytest.mark.parametrize(
    ("channel", "limit"),
    [("x", 280), ("linkedin", 3000), ("instagram", 2200), ("tiktok", 2200), ("facebook", 63206)],
)
def test_channel_limits_are_enforced_to_the_character(channel, limit):
    check_text("a" * limit, channel)
    with pytest.raises(TextRefused, match=f"allows {limit:,} characters"):
        check_text("a" * (limit + 1), channel)


def test_channels_without_a_limit_and_invisible_characters():
    check_text("a" * 10_000, "website")
    with pytest.raises(TextRefused, match="text-direction"):
        check_text("Refunds \u202eeerf era", "website")


def test_template_fill_and_recognising_a_pure_fill():
    body = "We know about {incident_title}. Next update by {next_update_time}."
    filled = fill_template(body, {"incident_title": "the outage", "next_update_time": "16:00"})
    assert filled == "We know about the outage. Next update by 16:00."
    assert is_template_fill(body, filled)
    assert not is_template_fill(body, filled.replace("We know", "We admit"))  # free text outside a blank
    assert not is_template_fill(body, filled + " Extra sentence.")
    assert not is_template_fill(body, "We know about line one\nline two. Next update by 16:00.")
    assert not is_template_fill(body, "We know about " + "x" * 201 + ". Next update by 16:00.")
    with pytest.raises(TextRefused, match="next_update_time"):
        fill_template(body, {"incident_title": "x"})
    with pytest.raises(TextRefused, match="one short line"):
        fill_template(body, {"incident_title": "two\nlines", "next_update_time": "16:00"})


def test_seeds_two_chains_and_good_templates(seeded):
    default = ApprovalChainTemplate.objects.get(name="Legal → Communications lead → Executive")
    assert [(s.name, s.role and s.role.slug, s.rule) for s in default.steps.order_by("order")] == [
        ("Legal", "legal", "any"),
        ("Communications lead", "comms-lead", "any"),
        ("Executive", "executive", "any"),
    ]
    assert not default.allow_self_approval
    fill = default.fill_chain
    assert fill is not None
    assert fill.fill_only
    assert sorted(fill.severities) == ["sev3", "sev4"]
    assert [s.role and s.role.slug for s in fill.steps.all()] == ["comms-lead"]
    templates = list(StatementTemplate.objects.all())
    assert len(templates) >= 6
    for template in templates:
        template.full_clean()  # placeholders known, fits its channel
        assert "{next_update_time}" in template.body, template.name  # always promise the next update
    assert len({t["channel"] for t in SEEDED_TEMPLATES}) >= 5
    assert (
        ensure_statement_seeds(ApprovalChainTemplate, ApprovalStepTemplate, StatementTemplate, IncidentRole)
        == 0
    )


def test_every_move_outside_the_transition_table_is_refused():
    statement = Statement(status=S.DRAFT)
    for old in S.values:
        for new in S.values:
            statement.status = old
            if new in Statement.TRANSITIONS[old]:
                statement.ensure_can_move_to(new)
            else:
                with pytest.raises(InvalidTransition):
                    statement.ensure_can_move_to(new)
