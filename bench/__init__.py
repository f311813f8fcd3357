"""`make bench`: performance figures as ratios against baselines measured in the same run.

One module per scenario (`bench/pages.py`, ...), shared helpers in `bench/common.py`, the HTTP load
generator in `bench/loadgen.py` (a separate process, no Django), the runner in `bench/__main__.py`.
Nothing here is imported by the app or the tests.
"""

from __future__ import annotations
