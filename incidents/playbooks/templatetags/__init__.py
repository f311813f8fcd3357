"""Template tags of the playbooks app (may import models of the base app and of this app)."""
