"""Where mentions come from: polled feeds and Mastodon, the signed webhook, CSV imports; and the poller."""
