"""Listening views: the monitoring page and alerts, configuration, the room's panel and queue, the webhook.
Thin: every change goes through incidents.listening.services."""
