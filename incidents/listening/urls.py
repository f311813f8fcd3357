from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.urls import path

from incidents.listening.views import config, hooks, monitoring, room

app_name = "listening"

L = login_required

urlpatterns = [
    # Organisation-wide monitoring and configuration.
    path("monitoring/", L(monitoring.monitoring), name="monitoring"),
    path("monitoring/insights/", L(monitoring.insights), name="insights"),
    path("monitoring/alerts/<uuid:alert>/", L(monitoring.alert), name="alert"),
    path("monitoring/alerts/<uuid:alert>/declare/", L(monitoring.alert_declare_view), name="alert-declare"),
    path("monitoring/alerts/<uuid:alert>/dismiss/", L(monitoring.alert_dismiss_view), name="alert-dismiss"),
    path(
        "monitoring/mentions/<int:pk>/sentiment/", L(monitoring.mention_sentiment), name="mention-sentiment"
    ),
    path("monitoring/mentions/<int:pk>/hide/", L(monitoring.mention_hide), name="mention-hide"),
    path("monitoring/mentions/<int:pk>/show/", L(monitoring.mention_unhide), name="mention-unhide"),
    path("monitoring/hides/<int:pk>/decide/", L(monitoring.hide_decide_view), name="hide-decide"),
    path("monitoring/sources/", L(config.sources), name="sources"),
    path("monitoring/sources/new/", L(config.source_edit), name="source-new"),
    path("monitoring/sources/<uuid:source>/", L(config.source_detail), name="source"),
    path("monitoring/sources/<uuid:source>/edit/", L(config.source_edit), name="source-edit"),
    path("monitoring/sources/<uuid:source>/import/", L(config.csv_upload_view), name="source-import"),
    path("monitoring/sources/<uuid:source>/<str:action>/", L(config.source_action), name="source-action"),
    path("monitoring/imports/<uuid:upload>/", L(config.csv_mapping), name="import"),
    path("monitoring/watches/", L(config.watches), name="watches"),
    path("monitoring/watches/new/", L(config.watch_edit), name="watch-new"),
    path("monitoring/watches/<uuid:watch>/edit/", L(config.watch_edit), name="watch-edit"),
    path("monitoring/watches/<uuid:watch>/retire/", L(config.watch_retire_view), name="watch-retire"),
    # The signed webhook (no session; the signature authenticates).
    path("monitoring/hooks/<uuid:source>/", hooks.webhook, name="hook"),
    # Incident-scoped: the IDOR sweep in tests/test_team.py covers these (`<uuid:code>`).
    path("incidents/<uuid:code>/mentions/", L(room.mentions_panel), name="panel"),
    path("incidents/<uuid:code>/mentions/watch/", L(room.watch_start), name="watch-start"),
    path("incidents/<uuid:code>/mentions/drill/", L(room.drill_spike), name="drill"),
    path("incidents/<uuid:code>/queue/", L(room.queue), name="queue"),
    path("incidents/<uuid:code>/queue/<int:pk>/claim/", L(room.claim), name="claim"),
    path("incidents/<uuid:code>/queue/<int:pk>/release/", L(room.release), name="release"),
    path("incidents/<uuid:code>/queue/<int:pk>/reply/", L(room.reply), name="reply"),
    path("incidents/<uuid:code>/queue/<int:pk>/close/", L(room.close), name="close"),
    path("incidents/<uuid:code>/queue/add/<int:pk>/", L(room.add_to_queue), name="queue-add"),
    path("incidents/<uuid:code>/review/mentions/", L(room.review_metrics), name="review-metrics"),
]
