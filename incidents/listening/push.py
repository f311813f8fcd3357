"""Listening changes → live nudges (README, "Live regions, one stream per page").

`incidents.listening.live.changed()` collects the changes of one transaction; after commit each distinct
change comes here once (a webhook batch of a thousand mentions is one change per region, not a thousand).
A change names watches; a watch belongs to one incident (its room's panel and queue) or to the
organisation (the monitoring page). Regions and who hears them:

- "mentions" (incident <pk>): the room's mentions panel — to the incident's streams (members re-checked by
  the events process, so a restricted incident never leaks).
- "queue" (incident <pk>): the response queue page, and the room's panel (it shows the queue's top).
- "monitoring" (org): the monitoring page. Anyone signed in may open it, so an organisation watch's change
  goes to every `dash` stream (dashboards, monitoring and alert pages); an incident watch's change goes
  with its incident, so only viewers who may see that incident hear it.
- "alert" (<alert pk>): an alert's own page, routed like "monitoring". The people an alert concerns hear
  it through their notification (bell and dashboard, `incidents.live.notified`).
- "sources" (org): the sources page (crisis managers and administrators), to `dash` streams.
"""

from __future__ import annotations

from incidents import live
from incidents.listening.live import Change
from incidents.listening.models import SpikeAlert, Watch


def push(change: Change) -> None:
    incidents: set[int] = set()
    org = False
    if change.incident_id is not None:
        incidents.add(change.incident_id)
    if change.watch_ids:
        owners: list[int | None] = list(
            Watch.objects.filter(pk__in=change.watch_ids).values_list("incident_id", flat=True)
        )
        org = None in owners
        incidents.update(i for i in owners if i is not None)
    elif change.incident_id is None:
        org = True

    region = change.region
    if region in ("mentions", "queue", "alerts"):
        for incident_id in sorted(incidents):
            live.nudge_on_commit("mentions", str(incident_id), incident_id=incident_id)
    if region == "queue":
        for incident_id in sorted(incidents):
            live.nudge_on_commit("queue", str(incident_id), incident_id=incident_id)
    if region in ("mentions", "alerts"):
        _org_wide("monitoring", "org", org=org, incidents=incidents)
    if region == "alerts" and change.alert_id is not None:
        found: list[int | None] = list(
            SpikeAlert.objects.filter(pk=change.alert_id).values_list("watch__incident_id", flat=True)
        )
        alert_incidents = {i for i in found if i is not None}
        _org_wide("alert", str(change.alert_id), org=not alert_incidents, incidents=alert_incidents)
    if region == "sources":
        live.nudge_on_commit("sources", "org", dash=True)


def _org_wide(region: str, key: str, *, org: bool, incidents: set[int]) -> None:
    if org:
        live.nudge_on_commit(region, key, dash=True)
    for incident_id in sorted(incidents):
        # With its incident: the events process sends it only to dashboards whose viewer may see it.
        live.nudge_on_commit(region, key, incident_id=incident_id, dash=True)
