"""The audit log: one append-only table written by database triggers, and a hash chain over it.

`AuditEvent` rows are inserted only by the `audit_capture()` trigger function (migrations/0002_capture.py)
inside the transaction that made the change; the database refuses UPDATE and DELETE on them. `AuditSeal` is
the chain: link n covers audit row `event_id` and the hash of link n-1, written by the sealer
(incidents/audit/chain.py) once the transactions that could still add earlier rows have finished. Nothing
here has a foreign key: the log outlives what it records.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _


class Operation(models.TextChoices):
    INSERT = "I", _("Created")
    UPDATE = "U", _("Changed")
    DELETE = "D", _("Deleted")


class AuditEvent(models.Model):
    # The writing transaction's id (pg_current_xact_id()): rows of one transaction share it.
    txid = models.BigIntegerField(verbose_name=_("txid"))
    # The transaction's start time: every row of one transaction has the same.
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    table_name = models.CharField(max_length=63, verbose_name=_("table name"))
    row_pk = models.CharField(max_length=64, verbose_name=_("row pk"))
    op = models.CharField(max_length=1, choices=Operation.choices, verbose_name=_("op"))
    # The incident the row belongs to (resolved by the trigger); null for organisation-wide tables.
    incident_id = models.BigIntegerField(null=True, verbose_name=_("incident id"))
    # "user:<id>", "anonymous", "task:<name>", "command:<name>" or "system" (no context was set).
    actor = models.CharField(max_length=120, verbose_name=_("actor"))
    actor_id = models.BigIntegerField(null=True, verbose_name=_("actor id"))
    request_id = models.CharField(max_length=64, blank=True, verbose_name=_("request id"))
    # Where the change came from: "POST /admin/…", "task incidents.tasks.…", "command migrate".
    origin = models.CharField(max_length=200, blank=True, verbose_name=_("origin"))
    # Updates only: the columns whose values changed (old_values/new_values hold just those).
    changed = ArrayField(models.CharField(max_length=63), default=list, verbose_name=_("changed"))
    old_values = models.JSONField(null=True, verbose_name=_("old values"))
    new_values = models.JSONField(null=True, verbose_name=_("new values"))

    class Meta:
        db_table = "audit_event"
        indexes = [
            models.Index(fields=["table_name", "id"], name="audit_event_table"),
            models.Index(
                fields=["incident_id", "id"],
                name="audit_event_incident",
                condition=models.Q(incident_id__isnull=False),
            ),
            models.Index(
                fields=["actor_id", "id"],
                name="audit_event_actor",
                condition=models.Q(actor_id__isnull=False),
            ),
            models.Index(
                fields=["request_id"], name="audit_event_request", condition=~models.Q(request_id="")
            ),
            # Rows arrive in time order, so a BRIN index serves the period filter at a fraction of a B-tree's
            # cost per insert.
            BrinIndex(fields=["occurred_at"], name="audit_event_time"),
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"#{self.pk} {self.op} {self.table_name} {self.row_pk}"


class AuditSeal(models.Model):
    """Link `seq` of the chain: sha256(hash of link seq-1 ‖ canonical bytes of audit row `event_id`)."""

    seq = models.BigIntegerField(primary_key=True, verbose_name=_("seq"))
    event_id = models.BigIntegerField(unique=True, verbose_name=_("event id"))
    hash = models.BinaryField(verbose_name=_("hash"))
    sealed_at = models.DateTimeField(verbose_name=_("sealed at"))

    class Meta:
        db_table = "audit_seal"
        verbose_name = _("audit seal")
        verbose_name_plural = _("audit seals")

    def __str__(self) -> str:
        return f"link {self.seq} → row {self.event_id}"


class AuditSealer(models.Model):
    """The sealer's bookmark (one row). Not evidence: audit_verify trusts only the chain itself."""

    id = models.SmallIntegerField(primary_key=True, default=1, verbose_name=_("id"))
    # Every audit row below this id is sealed (or never committed).
    low_id = models.BigIntegerField(default=1, verbose_name=_("low id"))
    # Armed: rows up to `armed_last_id` are sealed once every transaction older than `armed_xid` has ended.
    armed_last_id = models.BigIntegerField(null=True, verbose_name=_("armed last id"))
    armed_xid = models.BigIntegerField(null=True, verbose_name=_("armed xid"))
    head_seq = models.BigIntegerField(default=0, verbose_name=_("head seq"))
    head_hash = models.BinaryField(default=bytes(32), verbose_name=_("head hash"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        db_table = "audit_sealer"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_sealer_single_row")]
        verbose_name = _("audit sealer")
        verbose_name_plural = _("audit sealers")

    def __str__(self) -> str:
        return f"sealed to link {self.head_seq}"
