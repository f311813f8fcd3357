"""Crisis playbooks and drills (an app of its own, label "playbooks"): versions, declaring from one, injects.

Builds on the base app (its models and services; it serves `incidents:declare`, routed in warroom/urls.py);
the base app never imports it. May also import reviews.metrics for drill summaries.
"""
