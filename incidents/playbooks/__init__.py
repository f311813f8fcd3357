"""Crisis playbooks, pre-approved templates and drills (issue #7)."""
