"""Past incidents (an app of its own, label "reviews"): archive and search, replay, review, exports, trends.

Builds on the base app (its models and services; it serves `incidents:past`, routed in warroom/urls.py, and
opens a review on resolution through incidents.hooks); the base app never imports it.
"""
