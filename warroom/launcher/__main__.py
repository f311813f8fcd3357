"""`python -m warroom.launcher` (what `make run` calls).

Imports main.py only.
"""

from __future__ import annotations

import sys

from warroom.launcher.main import main

sys.exit(main())
