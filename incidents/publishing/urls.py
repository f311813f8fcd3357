from __future__ import annotations

from django.urls import path

from incidents.publishing import views

app_name = "publishing"

_S = "incidents/<uuid:code>/statements/<uuid:statement>/"

urlpatterns = [
    path(_S + "deliveries/", views.region, name="deliveries"),
    path(_S + "deliveries/send/", views.send, name="send"),
    path(_S + "deliveries/<int:pk>/retry/", views.retry, name="retry"),
    path(_S + "deliveries/<int:pk>/cancel/", views.cancel, name="cancel"),
    path(_S + "deliveries/<int:pk>/posted/", views.mark_posted, name="mark-posted"),
]
