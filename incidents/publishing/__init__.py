"""Publishing through connectors: the organisation's channels (Mastodon, Bluesky, an e-mail distribution list,
a signed webhook), and the deliveries that send exactly the approved bytes of a statement to them, once each.
App label "publishing". Depends on the base app; the base app hears nothing of it except through
incidents.hooks (statement_changing)."""
