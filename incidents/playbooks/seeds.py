"""Six seeded playbooks, one per scenario the source articles describe (outage, data breach, controversial
post, viral product complaint, executive misconduct, misinformation).

The templates follow what every source says about speaking in a crisis: answer fast, own it, say what you
know and what you do not, never delete criticism, and always promise when the next update comes.
Created only when missing (by name), so edits made in the editor are never overwritten.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from incidents.models import (
    ApprovalChainTemplate,
    Audience,
    Channel,
    IncidentRole,
    Platform,
    Scenario,
    Severity,
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
from incidents.playbooks.models import ContactKind, InjectKind, Playbook
from incidents.playbooks.services import playbook_create

_NEXT = "We will share our next update by {next_update_time}."

# Tasks every playbook starts with; each scenario adds its own.
_COMMON_TASKS: list[tuple[int, str, str, str]] = [
    (
        30,
        "Acknowledge publicly (holding statement)",
        "comms-lead",
        "Even “we know, we're on it” beats silence.",
    ),
    (
        5,
        "Pause all scheduled marketing posts",
        "social",
        "Cheerful campaign posts next to a crisis look tone-deaf.",
    ),
    (45, "Brief customer support with the approved lines", "support", "Support macro from the playbook."),
    (
        15,
        "Check mentions and sentiment; post a summary to the timeline",
        "social",
        "Repeat every 15 minutes.",
    ),
]

SEEDS: list[dict[str, Any]] = [
    {
        "name": "Technical outage",
        "scenario": Scenario.OUTAGE,
        "severity": Severity.SEV2,
        "title_hint": "Outage: ",
        "platforms": [Platform.X, Platform.WEBSITE],
        "description": (
            "A service customers rely on is down or misbehaving (checkout, app, login, payments) and people "
            "are saying so in public. Goal: be the first and most reliable source of information about our "
            "own outage, and keep updating until it is fixed and explained."
        ),
        "risk_notes": (
            "Do not guess a fix time; promise the next update instead. Do not blame a supplier in public "
            "before Legal agrees. Double charges or data loss raise it to SEV1."
        ),
        "roles": ["comms-lead", "spokesperson", "social", "support", "scribe"],
        "tasks": [
            (20, "Get the engineering lead's facts: scope, start time, workaround", "scribe", ""),
            (60, "Update the status page", "comms-lead", "Same wording as the public statement."),
            (120, "Publish the next update (or say when it comes)", "comms-lead", ""),
        ],
        "templates": [
            (
                "Holding statement (X)",
                Channel.X,
                Audience.PUBLIC,
                "Holding statement: {incident_title}",
                "We know something is wrong: {incident_title}. We're sorry — our engineers are working on it "
                "now. " + _NEXT,
                "The first public words, within 30 minutes. Apologise for the disruption; no guessed fix time.",
            ),
            (
                "Status page update",
                Channel.WEBSITE,
                Audience.CUSTOMERS,
                "Service update: {incident_title}",
                "{incident_title}. We are sorry for the disruption and want to be clear about where things "
                "stand.\n\nWho is affected: {affected}.\nWhat we are doing: {action}.\nIf you need help now: "
                "{contact}.\n\n" + _NEXT + "\n\n— {company}",
                "Once the facts are known. Keep it factual; update it at every milestone.",
            ),
            (
                "Support macro",
                Channel.SUPPORT_MACRO,
                Audience.CUSTOMERS,
                "Support reply: {incident_title}",
                "Thank you for letting us know, and I'm sorry for the trouble. We are aware of the problem "
                "({incident_title}) and our team is fixing it: {action}. " + _NEXT + " — {company} Support",
                "For agents answering tickets and replies, in step with what we said publicly.",
            ),
        ],
        "contacts": [
            (
                ContactKind.INTERNAL,
                "Engineering on-call",
                "Platform team",
                "+46 8 555 010 00",
                "",
                "Facts and ETA",
            ),
            (
                ContactKind.PARTNER,
                "Payment provider incident desk",
                "PayNordic",
                "+46 8 555 020 20",
                "incidents@paynordic.example",
                "Only if payments are involved",
            ),
        ],
        "injects": [
            (
                20,
                InjectKind.MENTIONS,
                "Mentions of #NorthwindDown jump from 40 to 900 an hour; a tech influencer (310k followers) asks whether card details are safe.",
            ),
            (
                45,
                InjectKind.JOURNALIST,
                "A reporter from Dagens Industri calls the press inbox: “How many customers are affected and since when? We publish in 30 minutes.”",
            ),
            (
                75,
                InjectKind.APPROVER_UNREACHABLE,
                "The executive approver is on a flight and unreachable for two hours. Who signs off?",
            ),
        ],
    },
    {
        "name": "Data breach",
        "scenario": Scenario.DATA_BREACH,
        "severity": Severity.SEV1,
        "restricted": True,
        "title_hint": "Suspected data exposure: ",
        "platforms": [Platform.OTHER],
        "description": (
            "Personal data may have been exposed, stolen or sent to the wrong people. Goal: establish facts "
            "fast, meet the legal notification clocks (72 hours to the data protection authority under GDPR), "
            "and tell affected people plainly what happened and what they should do."
        ),
        "risk_notes": (
            "Restricted by default: breach details and legal advice stay with the team. Never minimise "
            "(“a small number”) before the scope is known. Never speculate about attackers. Every external "
            "word goes through Legal."
        ),
        "roles": ["legal", "comms-lead", "executive", "spokesperson", "scribe"],
        "tasks": [
            (
                60,
                "Legal: decide whether the authority must be notified (72-hour clock)",
                "legal",
                "Start the clock from awareness, not from declaration.",
            ),
            (240, "Agree the customer notification and who receives it", "comms-lead", ""),
            (
                4320,
                "Notify the data protection authority (if required)",
                "legal",
                "72 hours after awareness.",
            ),
        ],
        "templates": [
            (
                "Customer notification (e-mail)",
                Channel.EMAIL,
                Audience.CUSTOMERS,
                "Important information about your data",
                "We are writing to tell you about a security incident that may involve your information.\n\n"
                "What happened: {incident_title}.\nWho is affected: {affected}.\nWhat we are doing: {action}.\n\n"
                "We are sorry. You trusted us with your information and we take that seriously. If you have "
                "questions: {contact}.\n\n" + _NEXT + "\n\n— {company}",
                "Say what we know and what we don't; say what people should do. Legal reviews every word.",
            ),
            (
                "Public holding statement (website)",
                Channel.WEBSITE,
                Audience.PUBLIC,
                "Security incident: what we know",
                "We are investigating a security incident: {incident_title}. We have secured the affected "
                "system and are working with independent experts. We will contact everyone affected directly. "
                "Questions: {contact}. " + _NEXT,
                "Use when the incident is public before notifications are ready.",
            ),
            (
                "Staff briefing",
                Channel.INTERNAL_NOTE,
                Audience.EMPLOYEES,
                "Briefing for staff: {incident_title}",
                "Team, you may hear about this from customers or the press: {incident_title}.\n\nWhat we are "
                "doing: {action}.\n\nPlease do not comment publicly or speculate; send questions to {contact}. "
                "We will brief you again by {next_update_time}.",
                "Staff hear it from us first.",
            ),
        ],
        # GDPR Art. 33: notify the supervisory authority without undue delay and, where feasible, within 72
        # hours of becoming aware; information may follow in phases, and a late notification gives reasons.
        "clocks": [
            (
                "Notify the supervisory authority of the personal-data breach",
                "IMY (Integritetsskyddsmyndigheten)",
                "GDPR Art. 33",
                72,
                "legal",
                "Nature of the breach, categories and approximate numbers of people and records, likely "
                "consequences, measures taken; the DPO's contact. Phased information is allowed; if late, say why.",
            ),
        ],
        "contacts": [
            (
                ContactKind.REGULATOR,
                "Data protection authority",
                "IMY (Integritetsskyddsmyndigheten)",
                "+46 8 657 61 00",
                "imy@imy.se",
                "Breach notification within 72 hours",
            ),
            (
                ContactKind.COUNSEL,
                "External privacy counsel",
                "Lindahl & Berg",
                "+46 8 555 030 30",
                "privacy@lindahlberg.example",
                "Retainer; call before any statement",
            ),
            (
                ContactKind.AGENCY,
                "Forensics partner",
                "NordSec IR",
                "+46 8 555 040 40",
                "ir@nordsec.example",
                "24/7 incident response",
            ),
        ],
        "injects": [
            (
                30,
                InjectKind.CUSTOMER,
                "A security researcher posts a redacted screenshot of the exposed file on X and tags us: “Still open. 3 days after I reported it.”",
            ),
            (
                60,
                InjectKind.REGULATOR,
                "The data protection authority e-mails: it has seen press reports and asks whether a notification is coming.",
            ),
            (
                90,
                InjectKind.APPROVER_UNREACHABLE,
                "External counsel is in court until 16:00 and cannot review the customer e-mail.",
            ),
        ],
    },
    {
        "name": "Controversial post or campaign",
        "scenario": Scenario.CONTROVERSIAL_POST,
        "severity": Severity.SEV2,
        "title_hint": "Backlash over ",
        "platforms": [Platform.INSTAGRAM, Platform.TIKTOK, Platform.X],
        "description": (
            "One of our posts, ads or campaigns is seen as offensive, insensitive or tone-deaf and criticism "
            "is spreading. Goal: listen, own the mistake quickly and sincerely, show what changed, and let "
            "the criticism stand — we answer it, we do not delete it."
        ),
        "risk_notes": (
            "Never delete critical comments or the original post without a decision logged here (deleting "
            "looks like hiding and screenshots survive). No “sorry if anyone was offended”. Pause the campaign "
            "everywhere, including paid ads."
        ),
        "roles": ["comms-lead", "social", "executive", "drafter"],
        "tasks": [
            (10, "Pause the campaign everywhere, including paid ads", "social", ""),
            (
                60,
                "Decide with the commander: keep, edit or take down the post (log the reason)",
                "comms-lead",
                "Deletion needs a logged decision.",
            ),
            (1440, "Debrief with the agency and the campaign owner", "comms-lead", ""),
        ],
        "templates": [
            (
                "Apology (Instagram)",
                Channel.INSTAGRAM,
                Audience.PUBLIC,
                "Apology: {incident_title}",
                "We got this wrong. {incident_title} hurt people, and we are sorry — no excuses. What we have "
                "done so far: {action}. We are reading every comment and we are leaving them up: you deserve to "
                "be heard. " + _NEXT,
                "Own it; say what has already changed. Never “if anyone was offended”.",
            ),
            (
                "Short reply (X)",
                Channel.X,
                Audience.PUBLIC,
                "Reply: {incident_title}",
                "You're right to call this out: {incident_title} was a mistake and we're sorry. We've paused "
                "the campaign and are listening. " + _NEXT,
                "For replies to the most-shared criticism; the same words every time.",
            ),
        ],
        "contacts": [
            (
                ContactKind.AGENCY,
                "Creative agency account lead",
                "Brightline Studio",
                "+46 70 555 11 22",
                "crisis@brightline.example",
                "Pull paid placements",
            ),
        ],
        "injects": [
            (
                15,
                InjectKind.MENTIONS,
                "Stitches of the ad on TikTok pass 2 million views; the top comment calls for a boycott.",
            ),
            (
                40,
                InjectKind.CUSTOMER,
                "A creator we sponsor says publicly she is “reconsidering the partnership”.",
            ),
            (
                70,
                InjectKind.JOURNALIST,
                "A marketing trade magazine asks whether the agency or Northwind approved the concept.",
            ),
        ],
    },
    {
        "name": "Product complaint going viral",
        "scenario": Scenario.COMPLAINT,
        "severity": Severity.SEV2,
        "title_hint": "Viral complaint: ",
        "platforms": [Platform.YOUTUBE, Platform.INSTAGRAM, Platform.REVIEWS],
        "description": (
            "A customer's complaint about a product or service is spreading (video, review, thread). Goal: "
            "respond with empathy in public, fix it for the customer in private, find out whether it is one "
            "case or a pattern, and say what we will do for everyone affected."
        ),
        "risk_notes": (
            "Do not argue with the customer in public or question their story. Move details to a private "
            "channel but answer in public too, so others see the response. Check for a safety issue first."
        ),
        "roles": ["comms-lead", "support", "social", "spokesperson"],
        "tasks": [
            (30, "Contact the customer privately and offer to put it right", "support", ""),
            (
                120,
                "Quality team: one case or a pattern? (batch, store, date)",
                "comms-lead",
                "Safety issue → raise to SEV1.",
            ),
        ],
        "templates": [
            (
                "Public reply (X)",
                Channel.X,
                Audience.PUBLIC,
                "Response: {incident_title}",
                "We've seen the reports about {incident_title} and we're sorry. If this happened to you, "
                "{contact} and we'll put it right. " + _NEXT,
                "Empathy first, then a concrete way to get help.",
            ),
            (
                "Customer update (website)",
                Channel.WEBSITE,
                Audience.CUSTOMERS,
                "What we are doing about {incident_title}",
                "Many of you have told us about {incident_title}. Thank you — and we are sorry.\n\nWho is "
                "affected: {affected}.\nWhat we are doing: {action}.\nHow to get a replacement or refund: "
                "{contact}.\n\n" + _NEXT,
                "When it is more than one case: say who is affected and what we do for all of them.",
            ),
        ],
        "contacts": [
            (
                ContactKind.INTERNAL,
                "Head of quality",
                "Northwind Product",
                "+46 8 555 050 50",
                "quality@northwind.example",
                "Batch tracing",
            ),
        ],
        "injects": [
            (
                20,
                InjectKind.CUSTOMER,
                "The original video passes 1 million views; a second creator posts the same defect.",
            ),
            (
                50,
                InjectKind.MENTIONS,
                "Review-site rating for the product drops from 4.6 to 3.1 in an afternoon.",
            ),
        ],
    },
    {
        "name": "Executive or employee misconduct",
        "scenario": Scenario.CONDUCT,
        "severity": Severity.SEV2,
        "restricted": True,
        "title_hint": "Conduct allegation: ",
        "platforms": [Platform.X, Platform.NEWS],
        "description": (
            "A video, post or report shows an executive or employee behaving badly, or alleges misconduct. "
            "Goal: act on our values visibly and quickly, protect the people involved (including the accused's "
            "right to a fair process), and never defend the indefensible."
        ),
        "risk_notes": (
            "Restricted by default: HR and legal details stay with the team. Do not name or comment on the "
            "individual beyond the process. HR and Legal approve every word."
        ),
        "roles": ["legal", "executive", "comms-lead", "spokesperson"],
        "tasks": [
            (60, "HR and Legal: agree the immediate measure (e.g. suspension pending review)", "legal", ""),
            (120, "Brief employees before they read it in the press", "comms-lead", ""),
        ],
        "templates": [
            (
                "Public statement (website)",
                Channel.WEBSITE,
                Audience.PUBLIC,
                "Statement: {incident_title}",
                "We have seen {incident_title}. The behaviour shown is not acceptable at {company} and does not "
                "reflect our values. {action}. We are sorry to everyone affected, and we will not comment on "
                "individuals while the review runs. " + _NEXT,
                "Values, action, process. No names, no defence.",
            ),
            (
                "Staff note",
                Channel.INTERNAL_NOTE,
                Audience.EMPLOYEES,
                "To all staff: {incident_title}",
                "You may have seen {incident_title}. We want you to hear from us directly: {action}. If you "
                "were affected or have concerns, {contact} — in confidence. " + _NEXT,
                "Employees first, in confidence.",
            ),
        ],
        "contacts": [
            (
                ContactKind.COUNSEL,
                "Employment counsel",
                "Lindahl & Berg",
                "+46 8 555 030 31",
                "employment@lindahlberg.example",
                "",
            ),
            (
                ContactKind.INTERNAL,
                "Head of HR",
                "Northwind People",
                "+46 8 555 060 60",
                "hr@northwind.example",
                "",
            ),
        ],
        "injects": [
            (
                25,
                InjectKind.JOURNALIST,
                "A tabloid asks: “Is it true the manager was warned before? We have an e-mail.”",
            ),
            (
                55,
                InjectKind.INTERNAL,
                "Staff in three stores post support for the filmed employee under the company hashtag.",
            ),
        ],
    },
    {
        "name": "Misinformation or rumour",
        "scenario": Scenario.MISINFORMATION,
        "severity": Severity.SEV3,
        "title_hint": "False claim: ",
        "platforms": [Platform.FACEBOOK, Platform.X],
        "description": (
            "A false or misleading claim about us is spreading (product safety, closures, prices, a fake "
            "statement). Goal: correct it calmly with evidence people can check, in the places it spreads, "
            "without amplifying it."
        ),
        "risk_notes": (
            "Do not repeat the rumour as a headline. Check first that it really is false. Reply where the claim "
            "spreads, link the evidence, and keep the tone kind: many sharing it are worried, not hostile."
        ),
        "roles": ["comms-lead", "social", "legal"],
        "tasks": [
            (30, "Verify the facts and collect evidence people can check", "comms-lead", ""),
            (90, "Report impersonation or fake statements to the platforms", "social", ""),
        ],
        "templates": [
            (
                "Correction (Facebook)",
                Channel.FACEBOOK,
                Audience.PUBLIC,
                "The facts: {incident_title}",
                "You may have seen posts claiming {claim}. We understand why that is worrying, so here are the "
                "facts: {action}. You can check the evidence yourself: {contact}. " + _NEXT,
                "Calm, with evidence; do not repeat the rumour as a headline.",
            ),
            (
                "Short correction (X)",
                Channel.X,
                Audience.PUBLIC,
                "Correction: {incident_title}",
                "We've seen posts claiming {claim}. That isn't right: {action}. Evidence: {contact}. "
                "Questions welcome; next update by {next_update_time}.",
                "For replies where the claim is spreading.",
            ),
        ],
        "contacts": [
            (
                ContactKind.PARTNER,
                "Independent test lab",
                "SGS Nordic",
                "+46 8 555 070 70",
                "",
                "Certificates on request",
            ),
        ],
        "injects": [
            (
                20,
                InjectKind.MENTIONS,
                "The claim is shared by a parenting group with 80k members; comments ask for a recall.",
            ),
            (60, InjectKind.JOURNALIST, "A regional newspaper asks for the lab certificate before 17:00."),
        ],
    },
]


def _content(
    spec: dict[str, Any], roles: dict[str, IncidentRole], chain: ApprovalChainTemplate | None
) -> Content:
    tasks = [(o, t, r, n) for o, t, r, n in _COMMON_TASKS] + list(spec["tasks"])
    return Content(
        title_hint=spec["title_hint"],
        description=spec["description"],
        risk_notes=spec["risk_notes"],
        default_severity=spec["severity"],
        default_restricted=spec.get("restricted", False),
        platforms=tuple(spec["platforms"]),
        approval_chain=chain,
        bridge_line="+46 8 555 000 99, PIN 4417 (crisis bridge, always open)",
        chat_channel="#warroom-" + spec["scenario"].replace("_", "-"),
        press_inbox="press@northwind.example (monitored 24/7 during an incident)",
        other_channels="Status page: status.northwind.example · Support queue: Zendesk view “Crisis”",
        change_note="Seeded playbook",
        roles=tuple(RoleSpec(role=roles[slug]) for slug in spec["roles"] if slug in roles),
        tasks=tuple(
            TaskSpec(title=t, offset_minutes=o, role=roles.get(r), notes=n)
            for o, t, r, n in sorted(tasks, key=lambda x: x[0])
        ),
        templates=tuple(
            TemplateSpec(name=n, channel=c, audience=a, title=ti, body=b, guidance=g)
            for n, c, a, ti, b, g in spec["templates"]
        ),
        contacts=tuple(
            ContactSpec(kind=k, name=n, organisation=o, phone=p, email=e, notes=no)
            for k, n, o, p, e, no in spec["contacts"]
        ),
        clocks=tuple(
            ClockSpec(name=n, authority=a, basis=b, hours=h, role=roles.get(r), notes=no)
            for n, a, b, h, r, no in spec.get("clocks", [])
        ),
        # Seeded offsets are minutes of a realistic drill; the editor stores seconds.
        injects=tuple(InjectSpec(offset_seconds=m * 60, kind=k, text=t) for m, k, t in spec["injects"]),
    )


@transaction.atomic
def ensure_playbooks() -> int:
    """Create the seeded playbooks that do not exist yet; returns how many were created."""
    roles = {r.slug: r for r in IncidentRole.objects.all()}
    chain = ApprovalChainTemplate.objects.filter(name="Legal → Communications lead → Executive").first()
    existing = set(Playbook.objects.values_list("name", flat=True))
    created = 0
    for spec in SEEDS:
        if spec["name"] in existing:
            continue
        playbook_create(
            actor=None,
            name=spec["name"],
            scenario=spec["scenario"],
            owner=None,
            content=_content(spec, roles, chain),
        )
        created += 1
    return created
