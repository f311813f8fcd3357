"""Past incidents: archive and search, replay, post-incident review with metrics, exports and trends."""
