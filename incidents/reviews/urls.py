from __future__ import annotations

from django.urls import path

from incidents.reviews import export_views, views

app_name = "reviews"

urlpatterns = [
    path("incidents/trends/", views.trends_page, name="trends"),
    path("incidents/<uuid:code>/replay/", views.replay, name="replay"),
    path("incidents/<uuid:code>/review/", views.review, name="review"),
    path("incidents/<uuid:code>/review/section/", views.section_save, name="section"),
    path("incidents/<uuid:code>/review/follow-ups/", views.follow_up_add, name="follow-up-add"),
    path("incidents/<uuid:code>/review/follow-ups/done/", views.follow_up_done, name="follow-up-done"),
    path("incidents/<uuid:code>/review/feedback/", views.feedback_save, name="feedback"),
    path("incidents/<uuid:code>/review/sign-off/", views.sign_off, name="sign-off"),
    path("incidents/<uuid:code>/export/timeline.md", export_views.export_markdown, name="export-md"),
    path("incidents/<uuid:code>/export/timeline.csv", export_views.export_csv, name="export-csv"),
    path("incidents/<uuid:code>/export/timeline.json", export_views.export_json, name="export-json"),
    path("incidents/<uuid:code>/export/timeline.pdf", export_views.export_pdf, name="export-pdf"),
    path("incidents/<uuid:code>/exports/", export_views.export_start, name="export-start"),
    path("incidents/<uuid:code>/exports/<uuid:job>/", export_views.export_job, name="export-job"),
    path(
        "incidents/<uuid:code>/exports/<uuid:job>/download/",
        export_views.export_download,
        name="export-download",
    ),
]
