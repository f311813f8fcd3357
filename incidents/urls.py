"""The base app's URLs (namespace "incidents"). warroom/urls.py adds two that its sub-apps serve under this
namespace: `declare` (playbooks) and `past` (reviews)."""

from __future__ import annotations

from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("notifications/read/", views.mark_notifications_read, name="notifications-read"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/bell/", views.notification_bell, name="notification-bell"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications-read-all"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("deadlines/mine/", views.my_due_items, name="my-due"),
    path("live/stream/", views.live_stream, name="live-stream"),
    path("incidents/<uuid:code>/", views.room, name="room"),
    path("incidents/<uuid:code>/status/", views.change_status, name="change-status"),
    path("incidents/<uuid:code>/severity/", views.change_severity, name="change-severity"),
    path("incidents/<uuid:code>/restriction/", views.change_restriction, name="change-restriction"),
    path("incidents/<uuid:code>/team/", views.team_panel, name="team"),
    path("incidents/<uuid:code>/team/add/", views.team_add, name="team-add"),
    path("incidents/<uuid:code>/team/leave/", views.team_leave, name="team-leave"),
    path("incidents/<uuid:code>/team/people/", views.people_search, name="team-people"),
    path("incidents/<uuid:code>/team/<int:pk>/remove/", views.team_remove, name="team-remove"),
    path("incidents/<uuid:code>/team/<int:pk>/handover/", views.team_handover, name="team-handover"),
    path("incidents/<uuid:code>/team/<int:pk>/backup/", views.team_backup, name="team-backup"),
    path("incidents/<uuid:code>/summary/", views.summary_region, name="summary"),
    path("incidents/<uuid:code>/summary/edit/", views.summary_edit_view, name="summary-edit"),
    path("incidents/<uuid:code>/summary/history/", views.summary_history, name="summary-history"),
    path("incidents/<uuid:code>/mentions/people/", views.mention_people, name="mention-people"),
    path("incidents/<uuid:code>/contacts/", views.contact_sheet, name="contacts"),
    path("incidents/<uuid:code>/deadlines/", views.deadlines_panel, name="deadlines"),
    path("incidents/<uuid:code>/deadlines/new/", views.deadline_add, name="deadline-add"),
    path(
        "incidents/<uuid:code>/deadlines/<int:deadline>/complete/",
        views.deadline_complete_view,
        name="deadline-complete",
    ),
    path(
        "incidents/<uuid:code>/deadlines/<int:deadline>/snooze/",
        views.deadline_snooze_view,
        name="deadline-snooze",
    ),
    path(
        "incidents/<uuid:code>/deadlines/<int:deadline>/reschedule/",
        views.deadline_reschedule_view,
        name="deadline-reschedule",
    ),
    path("incidents/<uuid:code>/timeline/", views.timeline, name="timeline"),
    path("incidents/<uuid:code>/timeline/new/", views.timeline_post, name="timeline-post"),
    path("incidents/<uuid:code>/timeline/poll/", views.timeline_poll, name="timeline-poll"),
    path(
        "incidents/<uuid:code>/timeline/<int:seq>/correct/", views.timeline_correct, name="timeline-correct"
    ),
    path("incidents/<uuid:code>/timeline/<int:seq>/pin/", views.timeline_pin, name="timeline-pin"),
    path("incidents/<uuid:code>/evidence/<uuid:evidence>/", views.evidence_download, name="evidence"),
    path("incidents/<uuid:code>/statements/", views.statements, name="statements"),
    path("incidents/<uuid:code>/statements/new/", views.statement_new, name="statement-new"),
    path("incidents/<uuid:code>/statements/<uuid:statement>/", views.statement, name="statement"),
    path(
        "incidents/<uuid:code>/statements/<uuid:statement>/card/", views.statement_card, name="statement-card"
    ),
    path(
        "incidents/<uuid:code>/statements/<uuid:statement>/save/", views.statement_save, name="statement-save"
    ),
    path(
        "incidents/<uuid:code>/statements/<uuid:statement>/submit/",
        views.statement_submit,
        name="statement-submit",
    ),
    path(
        "incidents/<uuid:code>/statements/<uuid:statement>/approve/",
        views.statement_approve,
        name="statement-approve",
    ),
    path(
        "incidents/<uuid:code>/statements/<uuid:statement>/reject/",
        views.statement_reject,
        name="statement-reject",
    ),
    path(
        "incidents/<uuid:code>/statements/<uuid:statement>/publish/",
        views.statement_publish,
        name="statement-publish",
    ),
    path(
        "incidents/<uuid:code>/statements/<uuid:statement>/withdraw/",
        views.statement_withdraw,
        name="statement-withdraw",
    ),
    path(
        "incidents/<uuid:code>/statements/<uuid:statement>/comment/",
        views.statement_comment,
        name="statement-comment",
    ),
    path("approvals/", views.my_approvals, name="my-approvals"),
]
