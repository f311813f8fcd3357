"""Seeds: the approval chains and statement templates a new installation starts with.

Used by the data migration (with its historical models) and after a test database flush. May import the
statement vocabulary only.
"""

from __future__ import annotations

from typing import Any

from incidents.models.incident import Scenario, Severity
from incidents.models.statement_text import Audience, Channel

SEEDED_CHAINS: list[dict[str, Any]] = [
    {
        "name": "Legal → Communications lead → Executive",
        "description": "The default for anything that goes out: legal risk first, then wording, then sign-off.",
        "sort_order": 100,
        "steps": [("Legal", "legal"), ("Communications lead", "comms-lead"), ("Executive", "executive")],
        "fill_chain": "Template fill: Communications lead",
    },
    {
        "name": "Template fill: Communications lead",
        "description": "A pre-approved template with only its placeholders filled, on a SEV3/SEV4 incident.",
        "sort_order": 200,
        "severities": [Severity.SEV3, Severity.SEV4],
        "fill_only": True,
        "steps": [("Communications lead", "comms-lead")],
    },
]

_NEXT = "We will share our next update by {next_update_time}."
SEEDED_TEMPLATES: list[dict[str, str]] = [
    {
        "name": "Holding statement — outage (X)",
        "scenario": Scenario.OUTAGE,
        "channel": Channel.X,
        "title": "Holding statement: {incident_title}",
        "body": (
            "We know about a problem: {incident_title}. We're sorry for the disruption, and our teams are "
            "working on a fix right now. " + _NEXT
        ),
        "guidance": "First public words on an outage: acknowledge, apologise, promise the next update.",
    },
    {
        "name": "Outage update — website",
        "scenario": Scenario.OUTAGE,
        "channel": Channel.WEBSITE,
        "audience": Audience.CUSTOMERS,
        "title": "Service update: {incident_title}",
        "body": (
            "{incident_title}. We are sorry for the trouble this causes, and we want to be clear about "
            "where things stand.\n\n"
            "Who is affected: {affected}.\n"
            "What we are doing: {action}.\n"
            "If you need help now: {contact}.\n\n" + _NEXT + "\n\n— {company}"
        ),
        "guidance": "A fuller update for the status page once the facts are known.",
    },
    {
        "name": "Data incident — customer e-mail",
        "scenario": Scenario.DATA_BREACH,
        "channel": Channel.EMAIL,
        "audience": Audience.CUSTOMERS,
        "title": "Important information about your data",
        "body": (
            "We are writing to tell you about a security incident that may involve your information.\n\n"
            "What happened: {incident_title}.\n"
            "Who is affected: {affected}.\n"
            "What we are doing: {action}.\n\n"
            "We are sorry. You trusted us with your information, and we take that seriously. "
            "If you have questions: {contact}.\n\n" + _NEXT + "\n\n— {company}"
        ),
        "guidance": "Say what we know and what we don't; never speculate. Legal must review every word.",
    },
    {
        "name": "Campaign apology — Instagram",
        "scenario": Scenario.CONTROVERSIAL_POST,
        "channel": Channel.INSTAGRAM,
        "title": "Apology: {incident_title}",
        "body": (
            "We got this wrong. {incident_title} hurt people, and we are sorry — no excuses. What we have "
            "done so far: {action}. We are reading every message you send us. " + _NEXT
        ),
        "guidance": "Own it; never 'if anyone was offended'. Say what has already changed.",
    },
    {
        "name": "Rumour correction — Facebook",
        "scenario": Scenario.MISINFORMATION,
        "channel": Channel.FACEBOOK,
        "title": "The facts: {incident_title}",
        "body": (
            "You may have seen posts claiming {claim}. We understand why that is worrying, so here are "
            "the facts: {action}. You can check the evidence yourself: {contact}. " + _NEXT
        ),
        "guidance": "Correct calmly, with evidence people can check; do not repeat the rumour as a headline.",
    },
    {
        "name": "Product complaint response — X",
        "scenario": Scenario.COMPLAINT,
        "channel": Channel.X,
        "title": "Response: {incident_title}",
        "body": (
            "We've seen the reports about {incident_title}, and we're sorry. If this happened to you, "
            "{contact} and we'll put it right. " + _NEXT
        ),
        "guidance": "Empathy first, then a concrete way to get help.",
    },
    {
        "name": "Staff briefing — internal note",
        "channel": Channel.INTERNAL_NOTE,
        "audience": Audience.EMPLOYEES,
        "title": "Briefing for staff: {incident_title}",
        "body": (
            "Team, you may hear about this from customers, friends or the press: {incident_title}.\n\n"
            "Who is affected: {affected}. What we are doing: {action}.\n\n"
            "Please do not comment publicly; send questions to {contact}. We will brief you again by "
            "{next_update_time}.\n\nThank you for your care and patience."
        ),
        "guidance": "Staff hear it from us first, and know where to send questions.",
    },
    {
        "name": "Support macro — acknowledgement",
        "channel": Channel.SUPPORT_MACRO,
        "audience": Audience.CUSTOMERS,
        "title": "Support reply: {incident_title}",
        "body": (
            "Thank you for getting in touch, and I'm sorry for the trouble. We know about this "
            "({incident_title}) and our teams are on it: {action}. " + _NEXT + " — {company} Support"
        ),
        "guidance": "For agents answering tickets; keeps support in step with what was said publicly.",
    },
]


def ensure_statement_seeds(chain_model: Any, step_model: Any, template_model: Any, role_model: Any) -> int:
    """Create the seeded chain and statement templates that do not exist yet (by name); returns how many.

    Takes the models as arguments so the data migration can pass its historical ones. Edits made in the
    admin are never overwritten.
    """
    created = 0
    roles = {r.slug: r for r in role_model.objects.all()}
    chains: dict[str, Any] = {c.name: c for c in chain_model.objects.all()}
    new: set[str] = set()
    for spec in SEEDED_CHAINS:
        if spec["name"] in chains:
            continue
        chain = chain_model.objects.create(
            name=spec["name"],
            description=spec["description"],
            sort_order=spec["sort_order"],
            severities=list(spec.get("severities", [])),
            fill_only=spec.get("fill_only", False),
        )
        for order, (name, slug) in enumerate(spec["steps"], start=1):
            step_model.objects.create(chain=chain, order=order, name=name, role=roles.get(slug))
        chains[chain.name] = chain
        new.add(chain.name)
        created += 1
    for spec in SEEDED_CHAINS:
        fill = spec.get("fill_chain")
        chain = chains[spec["name"]]
        if fill and chain.name in new and fill in chains:
            chain.fill_chain = chains[fill]
            chain.save(update_fields=["fill_chain"])
    existing = set(template_model.objects.values_list("name", flat=True))
    for order, tpl in enumerate(SEEDED_TEMPLATES, start=1):
        if tpl["name"] in existing:
            continue
        template_model.objects.create(
            name=tpl["name"],
            scenario=tpl.get("scenario", ""),
            channel=tpl["channel"],
            audience=tpl.get("audience", Audience.PUBLIC),
            language="en",
            title=tpl["title"],
            body=tpl["body"],
            guidance=tpl.get("guidance", ""),
            sort_order=order * 10,
        )
        created += 1
    return created
