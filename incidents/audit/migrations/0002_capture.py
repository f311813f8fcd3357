from __future__ import annotations

from django.db import migrations

# The capture trigger: one generic function, attached AFTER INSERT, UPDATE and DELETE FOR EACH ROW to every
# audited table (list below, kept equal to incidents/audit/tables.py by a test). It runs inside the writing
# transaction, so the ORM, QuerySet.update(), bulk operations, raw SQL and the admin are all captured, and a
# rolled-back change leaves no row. It only inserts: no lock, no read of other audit rows (the hash chain is
# added later by the sealer, incidents/audit/chain.py).
#
# Arguments: primary-key column; how to find the incident ("" | row:<col> | statement:<col> | version:<col> |
# review:<col>); columns whose change alone is not recorded; columns whose values are never copied.
CAPTURE = r"""
CREATE FUNCTION audit_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pk_column text := TG_ARGV[0];
    scope text := TG_ARGV[1];
    ignored text[] := TG_ARGV[2];
    redacted text[] := TG_ARGV[3];
    old_row jsonb;
    this_row jsonb;
    old_values jsonb;
    new_values jsonb;
    changed text[];
    ref bigint;
    incident bigint;
    raw text;
    ctx jsonb := '{}';
    k text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- One query: the changed columns (leaving out counters and touch times) with their old and new values.
        this_row := to_jsonb(NEW);
        old_row := to_jsonb(OLD);
        SELECT array_agg(n.key ORDER BY n.key), jsonb_object_agg(n.key, old_row -> n.key),
               jsonb_object_agg(n.key, n.value)
          INTO changed, old_values, new_values
          FROM jsonb_each(this_row) AS n
         WHERE n.value IS DISTINCT FROM old_row -> n.key AND n.key <> ALL (ignored);
        IF changed IS NULL THEN
            RETURN NULL;  -- nothing worth a row (the WHEN clause below lets few of these through)
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        new_values := to_jsonb(NEW);
        this_row := new_values;
    ELSE
        old_values := to_jsonb(OLD);
        this_row := old_values;
    END IF;

    FOREACH k IN ARRAY redacted LOOP
        IF old_values ? k THEN old_values := jsonb_set(old_values, ARRAY[k], '"[redacted]"'); END IF;
        IF new_values ? k THEN new_values := jsonb_set(new_values, ARRAY[k], '"[redacted]"'); END IF;
    END LOOP;

    IF scope <> '' THEN
        ref := (this_row ->> split_part(scope, ':', 2))::bigint;
        CASE split_part(scope, ':', 1)
            WHEN 'row' THEN
                incident := ref;
            WHEN 'statement' THEN
                SELECT s.incident_id INTO incident FROM incidents_statement s WHERE s.id = ref;
            WHEN 'version' THEN
                SELECT s.incident_id INTO incident
                  FROM incidents_statementversion v JOIN incidents_statement s ON s.id = v.statement_id
                 WHERE v.id = ref;
            WHEN 'review' THEN
                SELECT r.incident_id INTO incident FROM reviews_review r WHERE r.id = ref;
            ELSE
                incident := NULL;  -- the audit view hides incident-scoped rows it cannot place
        END CASE;
    END IF;

    -- Set per transaction by the application (incidents/audit/context.py); absent means "system".
    raw := current_setting('warroom.audit', true);
    IF raw IS NOT NULL AND raw <> '' THEN
        ctx := raw::jsonb;
    END IF;

    INSERT INTO audit_event (txid, occurred_at, table_name, row_pk, op, incident_id, actor, actor_id,
                             request_id, origin, changed, old_values, new_values)
    VALUES (pg_current_xact_id()::text::bigint, now(), TG_TABLE_NAME, coalesce(this_row ->> pk_column, ''),
            left(TG_OP, 1), incident, coalesce(ctx ->> 'actor', 'system'), (ctx ->> 'actor_id')::bigint,
            coalesce(ctx ->> 'request_id', ''), coalesce(ctx ->> 'origin', ''), coalesce(changed, '{}'),
            old_values, new_values);
    RETURN NULL;
END;
$$;

-- Like the timeline: once written, audit rows and chain links stay. TRUNCATE (test flushes, a deliberate wipe
-- by the database owner) is not a row operation and is not blocked; the head hash the sealer logs is the
-- anchor that shows such a wipe (`audit_verify --head`).
CREATE FUNCTION audit_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_rewrite();
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_rewrite();
"""

# (table, primary key, incident scope, ignored columns, redacted columns) — frozen here; a later change to the
# list needs its own migration.
AUDITED = [
    ("incidents_incident", "id", "row:id", "{timeline_seq,updated_at}", "{}"),
    ("incidents_incidentchange", "id", "row:incident_id", "{}", "{}"),
    ("incidents_roleassignment", "id", "row:incident_id", "{}", "{}"),
    ("incidents_teamevent", "id", "row:incident_id", "{}", "{}"),
    ("incidents_incidentuserobjectpermission", "id", "row:content_object_id", "{}", "{}"),
    ("incidents_incidentgroupobjectpermission", "id", "row:content_object_id", "{}", "{}"),
    ("incidents_statement", "id", "row:incident_id", "{updated_at}", "{}"),
    ("incidents_statementversion", "id", "statement:statement_id", "{}", "{}"),
    ("incidents_versioncomment", "id", "version:version_id", "{}", "{}"),
    ("incidents_chainstep", "id", "version:version_id", "{}", "{}"),
    ("incidents_approval", "id", "version:version_id", "{}", "{}"),
    ("incidents_publication", "id", "statement:statement_id", "{}", "{}"),
    ("incidents_deadline", "id", "row:incident_id", "{updated_at}", "{}"),
    ("reviews_review", "id", "row:incident_id", "{}", "{}"),
    ("reviews_reviewsection", "id", "review:review_id", "{}", "{}"),
    ("reviews_followup", "id", "review:review_id", "{}", "{}"),
    ("reviews_feedback", "id", "review:review_id", "{}", "{}"),
    ("playbooks_incidentplaybook", "id", "row:incident_id", "{}", "{}"),
    ("incidents_user", "id", "", "{last_login}", "{password}"),
    ("incidents_user_groups", "id", "", "{}", "{}"),
    ("incidents_user_user_permissions", "id", "", "{}", "{}"),
    ("auth_group", "id", "", "{}", "{}"),
    ("auth_group_permissions", "id", "", "{}", "{}"),
    ("guardian_userobjectpermission", "id", "", "{}", "{}"),
    ("guardian_groupobjectpermission", "id", "", "{}", "{}"),
    ("incidents_incidentrole", "id", "", "{}", "{}"),
    ("incidents_approvalchaintemplate", "id", "", "{}", "{}"),
    ("incidents_approvalsteptemplate", "id", "", "{}", "{}"),
    ("incidents_approvalsteptemplate_users", "id", "", "{}", "{}"),
    ("incidents_statementtemplate", "id", "", "{}", "{}"),
    ("incidents_responsepolicy", "id", "", "{}", "{}"),
    ("incidents_webhookendpoint", "id", "", "{}", "{secret}"),
    ("playbooks_playbook", "id", "", "{}", "{}"),
    ("playbooks_playbookversion", "id", "", "{}", "{}"),
    ("playbooks_playbookrole", "id", "", "{}", "{}"),
    ("playbooks_playbooktask", "id", "", "{}", "{}"),
    ("playbooks_playbooktemplate", "id", "", "{}", "{}"),
    ("playbooks_playbookcontact", "id", "", "{}", "{}"),
    ("playbooks_playbookinject", "id", "", "{}", "{}"),
]


def _when(ignored: str) -> str:
    """Skip the function call altogether for updates that change nothing worth a row: the hot paths (a
    timeline post bumps its incident's seq counter) pay for one expression, not for a plpgsql call."""
    if ignored == "{}":
        return "OLD.* IS DISTINCT FROM NEW.*"
    return f"(to_jsonb(OLD) - '{ignored}'::text[]) IS DISTINCT FROM (to_jsonb(NEW) - '{ignored}'::text[])"


TRIGGERS = "\n".join(
    f"CREATE TRIGGER audit_capture AFTER INSERT OR DELETE ON {table} FOR EACH ROW "
    f"EXECUTE FUNCTION audit_capture('{pk}', '{scope}', '{ignored}', '{redacted}');\n"
    f"CREATE TRIGGER audit_capture_update AFTER UPDATE ON {table} FOR EACH ROW WHEN ({_when(ignored)}) "
    f"EXECUTE FUNCTION audit_capture('{pk}', '{scope}', '{ignored}', '{redacted}');"
    for table, pk, scope, ignored, redacted in AUDITED
)

REVERSE = "\n".join(
    f"DROP TRIGGER IF EXISTS audit_capture ON {table}; DROP TRIGGER IF EXISTS audit_capture_update ON {table};"
    for table, *_ in AUDITED
) + """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event;
DROP TRIGGER IF EXISTS audit_seal_append_only ON audit_seal;
DROP FUNCTION IF EXISTS audit_refuse_rewrite();
DROP FUNCTION IF EXISTS audit_capture();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        ("incidents", "0010_open_incidents_index"),
        ("playbooks", "0001_initial"),
        ("reviews", "0003_archive_index"),
    ]

    operations = [migrations.RunSQL(CAPTURE + TRIGGERS, REVERSE)]
