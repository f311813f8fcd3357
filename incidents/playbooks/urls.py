from __future__ import annotations

from django.urls import path

from incidents.playbooks import clock_views, drill_views, views

app_name = "playbooks"

urlpatterns = [
    path("", views.playbook_list, name="list"),
    path("new/", views.playbook_new, name="new"),
    path("row/", views.playbook_row, name="row"),
    path("<uuid:playbook>/", views.playbook_detail, name="detail"),
    path("<uuid:playbook>/edit/", views.playbook_edit, name="edit"),
    path("<uuid:playbook>/duplicate/", views.playbook_duplicate, name="duplicate"),
    path("<uuid:playbook>/retire/", views.playbook_retire, name="retire"),
    path("<uuid:playbook>/review/", views.playbook_review, name="review"),
    path("<uuid:playbook>/compare/", views.playbook_compare, name="compare"),
    # Incident-scoped: the IDOR sweep in tests/test_team.py covers it (`<uuid:code>`).
    path("drills/<uuid:code>/summary/", views.drill_summary, name="summary"),
    path("drills/<uuid:code>/pause/", drill_views.pause, name="drill-pause"),
    path("drills/<uuid:code>/resume/", drill_views.resume, name="drill-resume"),
    path("incidents/<uuid:code>/clocks/", clock_views.clocks, name="clocks"),
    path("incidents/<uuid:code>/clocks/aware/", clock_views.aware, name="clocks-aware"),
    path("incidents/<uuid:code>/clocks/<int:pk>/notified/", clock_views.notified, name="clocks-notified"),
]
