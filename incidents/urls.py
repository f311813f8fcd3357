from __future__ import annotations

from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("notifications/read/", views.mark_notifications_read, name="notifications-read"),
    path("incidents/declare/", views.declare, name="declare"),
    path("incidents/past/", views.past, name="past"),
    path("incidents/<uuid:code>/", views.room, name="room"),
    path("incidents/<uuid:code>/status/", views.change_status, name="change-status"),
    path("incidents/<uuid:code>/severity/", views.change_severity, name="change-severity"),
    path("incidents/<uuid:code>/team/", views.team_panel, name="team"),
    path("incidents/<uuid:code>/team/add/", views.team_add, name="team-add"),
    path("incidents/<uuid:code>/team/leave/", views.team_leave, name="team-leave"),
    path("incidents/<uuid:code>/team/people/", views.people_search, name="team-people"),
    path("incidents/<uuid:code>/team/<int:pk>/remove/", views.team_remove, name="team-remove"),
    path("incidents/<uuid:code>/team/<int:pk>/handover/", views.team_handover, name="team-handover"),
    path("incidents/<uuid:code>/team/<int:pk>/backup/", views.team_backup, name="team-backup"),
    path("incidents/<uuid:code>/contacts/", views.contact_sheet, name="contacts"),
]
