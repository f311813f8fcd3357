from __future__ import annotations

from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("incidents/declare/", views.declare, name="declare"),
    path("incidents/past/", views.past, name="past"),
    path("incidents/<uuid:code>/", views.room, name="room"),
    path("incidents/<uuid:code>/status/", views.change_status, name="change-status"),
    path("incidents/<uuid:code>/severity/", views.change_severity, name="change-severity"),
]
