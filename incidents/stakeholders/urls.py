from __future__ import annotations

from django.urls import path

from incidents.stakeholders import views

app_name = "stakeholders"

urlpatterns = [
    path("incidents/<uuid:code>/stakeholders/", views.register, name="register"),
    path("incidents/<uuid:code>/stakeholders/add/", views.add, name="add"),
    path("incidents/<uuid:code>/stakeholders/log/", views.log, name="log"),
    path("incidents/<uuid:code>/stakeholders/enquiries/", views.enquiry, name="enquiry"),
    path("incidents/<uuid:code>/stakeholders/enquiries/<int:pk>/close/", views.close, name="close"),
    path("incidents/<uuid:code>/stakeholders/room/", views.room_region, name="room-region"),
    path("incidents/<uuid:code>/stakeholders/review/", views.review, name="review"),
]
