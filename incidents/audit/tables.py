"""Which tables the audit log captures, how each row finds its incident, and which tables it leaves out (why).

The database triggers are installed by migrations (0002_capture); this registry is what the audit view reads
to label rows and to decide what an administrator may see, and tests/test_audit_capture.py checks that the
triggers in the database match it and that every table of every installed model is named here, captured or
not. A new model therefore needs a decision: add it to AUDITED (and a migration installing its trigger) or to
NOT_AUDITED with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Audited:
    table: str
    label: str | Promise
    # How the trigger finds the incident a row belongs to: "" (not incident-scoped), "row:<column>" (that
    # column holds the incident id), "statement:<column>", "version:<column>" or "review:<column>" (that column
    # points at a statement, statement version or review, which belongs to the incident).
    scope: str = ""
    # Changes to only these columns are not recorded (counters, touch timestamps, last login).
    ignored: tuple[str, ...] = ()
    # Their values are never copied into the log, only the fact that they changed (password hashes, secrets).
    redacted: tuple[str, ...] = ()
    pk: str = "id"

    @property
    def incident_scoped(self) -> bool:
        return bool(self.scope)

    def trigger_args(self) -> tuple[str, str, str, str]:
        return (self.pk, self.scope, _pg_array(self.ignored), _pg_array(self.redacted))


def _pg_array(values: tuple[str, ...]) -> str:
    return "{" + ",".join(values) + "}"


# A listening source's polling bookkeeping, rewritten on every poll: not a change anybody made.
_SOURCE_HEALTH = (
    "etag",
    "last_modified",
    "cursor",
    "next_poll_at",
    "lease_until",
    "last_polled_at",
    "last_success_at",
    "last_error",
    "last_error_at",
    "consecutive_failures",
    "total_stored",
)

AUDITED: tuple[Audited, ...] = (
    # Incidents, their teams and who may do what in them.
    Audited("incidents_incident", _("Incident"), "row:id", ignored=("timeline_seq", "updated_at")),
    Audited("incidents_incidentchange", _("Status or severity change"), "row:incident_id"),
    Audited("incidents_roleassignment", _("Team role"), "row:incident_id"),
    Audited("incidents_teamevent", _("Team event"), "row:incident_id"),
    Audited("incidents_incidentuserobjectpermission", _("Incident permission"), "row:content_object_id"),
    Audited(
        "incidents_incidentgroupobjectpermission", _("Incident group permission"), "row:content_object_id"
    ),
    # Statements and their approval.
    Audited("incidents_statement", _("Statement"), "row:incident_id", ignored=("updated_at",)),
    Audited("incidents_statementversion", _("Statement version"), "statement:statement_id"),
    Audited("incidents_versioncomment", _("Version comment"), "version:version_id"),
    Audited("incidents_chainstep", _("Approval step"), "version:version_id"),
    Audited("incidents_approval", _("Approval decision"), "version:version_id"),
    Audited("incidents_publication", _("Publication"), "statement:statement_id"),
    Audited("incidents_deadline", _("Deadline"), "row:incident_id", ignored=("updated_at",)),
    Audited("incidents_summaryversion", _("Living summary version"), "row:incident_id"),
    # Post-incident reviews.
    Audited("reviews_review", _("Review"), "row:incident_id"),
    Audited("reviews_reviewsection", _("Review section"), "review:review_id"),
    Audited("reviews_followup", _("Review follow-up"), "review:review_id"),
    Audited("reviews_feedback", _("Review feedback"), "review:review_id"),
    Audited("playbooks_incidentplaybook", _("Playbook used by an incident"), "row:incident_id"),
    # People, organisation roles and model-wide permissions.
    Audited("incidents_user", _("Person"), ignored=("last_login",), redacted=("password",)),
    Audited("incidents_user_groups", _("Person's group")),
    Audited("incidents_user_user_permissions", _("Person's permission")),
    Audited("auth_group", _("Group")),
    Audited("auth_group_permissions", _("Group permission")),
    Audited("guardian_userobjectpermission", _("Object permission")),
    Audited("guardian_groupobjectpermission", _("Group object permission")),
    Audited("incidents_incidentrole", _("Role catalogue")),
    # Organisation settings.
    Audited("incidents_approvalchaintemplate", _("Approval chain template")),
    Audited("incidents_approvalsteptemplate", _("Approval chain step template")),
    Audited("incidents_approvalsteptemplate_users", _("Approval chain step approver")),
    Audited("incidents_statementtemplate", _("Statement template")),
    Audited("incidents_responsepolicy", _("Response policy")),
    Audited("incidents_webhookendpoint", _("Webhook endpoint"), redacted=("secret",)),
    # Playbooks and their versions.
    Audited("playbooks_playbook", _("Playbook")),
    Audited("playbooks_playbookversion", _("Playbook version")),
    Audited("playbooks_playbookrole", _("Playbook role")),
    Audited("playbooks_playbooktask", _("Playbook task")),
    Audited("playbooks_playbooktemplate", _("Playbook statement template")),
    Audited("playbooks_playbookcontact", _("Playbook contact")),
    Audited("playbooks_playbookinject", _("Playbook drill inject")),
    Audited("playbooks_playbookclock", _("Playbook regulatory clock")),
    Audited("playbooks_incidentclock", _("Regulatory clock"), "row:incident_id"),
    # Publishing through connectors (incidents/publishing): channels, what was sent where, by whom.
    Audited("publishing_connector", _("Publishing channel"), ignored=("updated_at",)),
    Audited("publishing_release", _("Publish request"), "statement:statement_id"),
    Audited("stakeholders_stakeholder", _("Stakeholder"), "row:incident_id"),
    Audited("stakeholders_contactentry", _("Contact log entry"), "row:incident_id"),
    Audited("stakeholders_pressenquiry", _("Press enquiry"), "row:incident_id"),
    Audited(
        "publishing_delivery", _("Delivery to a channel"), "statement:statement_id", ignored=("lease_until",)
    ),
    # Listening (incidents/listening): what is watched and where from, alert decisions, the response queue.
    Audited(
        "listening_source",
        _("Listening source"),
        ignored=_SOURCE_HEALTH,
        redacted=("access_token", "secret", "previous_secret"),
    ),
    Audited("listening_watch", _("Listening watch"), "row:incident_id"),
    Audited("listening_spikealert", _("Spike alert"), "row:incident_id"),
    Audited("listening_replytemplate", _("Reply template")),
    Audited("listening_responseitem", _("Response queue item"), "row:incident_id", ignored=("reach",)),
    Audited("listening_mentionhide", _("Hidden mention"), "row:incident_id"),
)

NOT_AUDITED: dict[str, str] = {
    "incidents_timelineentry": "the timeline is itself an append-only record (author and time on every entry); "
    "the database refuses UPDATE and DELETE on it",
    "incidents_evidence": "append-only with its timeline entry (UPDATE and DELETE refused)",
    "incidents_notification": "delivery machinery derived from deadlines and statements (audited)",
    "incidents_outboundemail": "delivery machinery: the e-mail outbox",
    "incidents_webhookdelivery": "delivery machinery: the webhook outbox",
    "incidents_reminder": "delivery machinery derived from deadlines (audited)",
    "incidents_referencecounter": "a counter for incident references",
    "playbooks_drillinject": "drill machinery: injects scheduled from a playbook version (audited)",
    "reviews_exportjob": "delivery machinery: an export prepared for its requester (it changes nothing; the "
    "records it is built from are audited)",
    "listening_mention": "public posts ingested at volume; what people change on one is recorded elsewhere "
    "(hiding in listening_mentionhide, answers in listening_responseitem, sentiment corrections with who on "
    "the row and on the timeline)",
    "listening_mentionrollup": "counters derived from mentions, rebuilt at will",
    "listening_csvimport": "an uploaded file waiting for its column mapping (who and when are on the row); "
    "what it stores is ingested mentions",
    "listening_drillspike": "drill machinery: synthetic mentions scheduled for a drill (asked for on the "
    "drill's timeline)",
    "django_session": "session keys are secrets, and sessions change on every login",
    "django_admin_log": "the changes an admin action makes are captured on their own tables, with the "
    "administrator as actor and the admin URL as origin",
    "django_content_type": "schema metadata written by migrate",
    "auth_permission": "schema metadata written by migrate",
    "audit_event": "the audit log itself",
    "audit_seal": "the hash chain over the audit log",
    "audit_sealer": "the sealer's bookmark",
    # Accounts (incidents/accounts): secrets and counters. A device row changes on every code checked (its last
    # time step, its throttle), so capturing it would copy secrets into the log and bury it in noise; enrolment,
    # new recovery codes and ended sessions go to the "warroom.security" log.
    "otp_totp_totpdevice": "authenticator secrets and per-code counters (changes on every sign-in); enrolment "
    "is logged to the security log",
    "otp_static_staticdevice": "holder of recovery codes (secrets); new codes are logged to the security log",
    "otp_static_statictoken": "recovery codes are secrets, deleted when used",
    "django_otp_webauthn_webauthncredential": "passkeys: their sign counter and last use change on every "
    "sign-in; added and removed passkeys are logged to the security log",
    "django_otp_webauthn_webauthnattestation": "the attestation a passkey came with (none is asked for)",
    "django_otp_webauthn_webauthnuserhandle": "the random handle a person's passkeys carry, made once",
    "axes_accessattempt": "login throttling counters (django-axes), changed on every failed login",
    "axes_accessattemptexpiration": "expiry times of those counters",
    "axes_accesslog": "login history kept by django-axes itself",
    "axes_accessfailurelog": "the failed-login log kept by django-axes itself",
    "accounts_signedinsession": "session keys are secrets, and last-seen changes every minute",
}

BY_TABLE: dict[str, Audited] = {a.table: a for a in AUDITED}


def label(table: str) -> str:
    audited = BY_TABLE.get(table)
    return str(audited.label) if audited else table


def incident_scoped(table: str) -> bool:
    audited = BY_TABLE.get(table)
    # A table we do not know (dropped since) is treated as incident-scoped: hide rather than leak.
    return audited.incident_scoped if audited else True
