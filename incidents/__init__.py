"""The base app: incidents, their team, timeline, statements and deadlines (models, services, views).

Depends on nothing in its sub-apps (playbooks/, reviews/), which build on it and take part in its changes
through incidents.hooks; inside, models ← rules/permissions ← services ← views, never the reverse.
"""
