"""Compile translation catalogues (.po → .mo) with polib: no gettext tools needed on a fresh machine.

`make install` runs it for each .po newer than its .mo; the Dockerfile for all of them.
Usage: python -m warroom.compilemessages [file.po ...]   (no arguments: every locale/*/LC_MESSAGES/*.po)
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib  # type: ignore[import-untyped]  # no stubs published

LOCALE = Path(__file__).resolve().parent.parent / "locale"


def compile_po(po_path: Path) -> Path:
    catalogue = polib.pofile(str(po_path))
    mo_path = po_path.with_suffix(".mo")
    # Fuzzy entries are guesses: like msgfmt, leave them out (the catalogue test forbids them anyway).
    for entry in catalogue.fuzzy_entries():
        catalogue.remove(entry)
    tmp = mo_path.with_suffix(".mo.tmp")
    catalogue.save_as_mofile(str(tmp))
    tmp.replace(mo_path)  # atomic: a running server never reads half a file
    return mo_path


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))
    for path in paths:
        print(f"compiled {compile_po(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
