#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "warroom.settings")
    from django.core.management import execute_from_command_line

    from incidents.audit.context import command_context

    # What a command writes (migrate's seeds, seed_demo, a shell session) is attributed to it in the audit log.
    with command_context(sys.argv):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
