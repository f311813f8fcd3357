"""Social listening: where mentions come from, what we watch for, the mentions themselves and their rollups.

- A `Source` is one configured feed, webhook, CSV import target or Mastodon connector, with its health
  (last success, last error, back-off) and, for polled sources, a lease that is the per-source lock.
- A `Watch` is a query (include / exclude terms): organisation-wide, or one per incident.
- A `Mention` is stored once per (source, external id) and never deleted (a database trigger refuses it);
  hiding is a recorded state (`MentionHide`).
- `MentionRollup` holds counts per (watch, 5-minute bucket), upserted in the same transaction as the
  mentions they count. Charts and spike detection read only rollups.
- `SpikeAlert`, the response queue (`ResponseItem`), reply templates, CSV imports and drill spikes are the
  rest; queue and moderation rows hang off mentions so the big table stays narrow.
"""

from __future__ import annotations

from incidents.listening.models.sources import (
    BUCKET,
    POLLED_KINDS,
    SCORED,
    Mention,
    MentionPlatform,
    MentionRollup,
    ScoredBy,
    Sentiment,
    Source,
    SourceKind,
    Watch,
    new_secret,
)
from incidents.listening.models.work import (
    AlertKind,
    AlertState,
    CloseReason,
    CsvImport,
    DrillSpike,
    HideReason,
    HideState,
    ItemState,
    MentionHide,
    ReplyTemplate,
    ResponseItem,
    SpikeAlert,
)

__all__ = [
    "BUCKET",
    "POLLED_KINDS",
    "SCORED",
    "AlertKind",
    "AlertState",
    "CloseReason",
    "CsvImport",
    "DrillSpike",
    "HideReason",
    "HideState",
    "ItemState",
    "Mention",
    "MentionHide",
    "MentionPlatform",
    "MentionRollup",
    "ReplyTemplate",
    "ResponseItem",
    "ScoredBy",
    "Sentiment",
    "Source",
    "SourceKind",
    "SpikeAlert",
    "Watch",
    "new_secret",
]
