"""`make backup` / `make restore`: the database and the evidence files, into and out of a directory.

    python -m warroom.backup backup DIR    # DIR must be new or empty
    python -m warroom.backup restore DIR   # into DATABASE_URL's database and MEDIA_ROOT, both new or empty
    python -m warroom.backup check [DIR]   # the integrity checks alone, against DATABASE_URL and MEDIA_ROOT

A backup directory holds `database.dump` (pg_dump custom format), `media.tar` (everything under MEDIA_ROOT)
and `manifest.json`, written last, so a directory without it is not a backup: the sha256 of both files, of
every evidence file, and facts about the database taken in the very snapshot pg_dump dumps (row counts, a
digest of the per-incident permission rows, the audit chain's head). The database is dumped before the files
are copied: an evidence file is stored before its row commits, so every file the dump refers to is in the tar.

A restore refuses damaged files (sha256) and a target that is not fresh, restores in one transaction
(`pg_restore --single-transaction --exit-on-error`: all or nothing), unpacks the files, and is not done until
the checks pass: the audit chain verifies up to the head recorded at backup time, every publication's sha256
matches its version's text, the counts and permission rows are the backup's, and every evidence file has
its bytes (sha256). Exit code 0 only then.

pg_dump and pg_restore must be the server's major version (PostgreSQL 15 here; `make system-deps` installs
Debian's client): an older pg_dump cannot read a newer server, and a newer pg_restore writes SQL an older
server may reject. Reads DATABASE_URL and MEDIA_ROOT like the settings do, and needs no SECRET_KEY.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from incidents.audit import chain
from warroom.env import env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DUMP, MEDIA, MANIFEST = "database.dump", "media.tar", "manifest.json"
FORMAT = 1
# Rows counted at backup time and compared after a restore.
COUNTED = (
    "incidents_user",
    "incidents_incident",
    "incidents_roleassignment",
    "incidents_incidentuserobjectpermission",
    "incidents_timelineentry",
    "incidents_evidence",
    "incidents_statement",
    "incidents_statementversion",
    "incidents_approval",
    "incidents_publication",
    "incidents_deadline",
    "audit_event",
    "audit_seal",
)


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why and what to do. Nothing was changed."""


@dataclass(frozen=True)
class Database:
    conninfo: str  # without the password, which goes to the tools through PGPASSWORD (not their argv)
    password: str
    name: str

    @classmethod
    def from_url(cls, url: str) -> Database:
        db = parse_database_url(url)
        params = {
            "dbname": db["NAME"],
            "user": db["USER"],
            "host": db["HOST"],
            "port": db["PORT"],
            **db["OPTIONS"],
        }
        return cls(make_conninfo(**{k: v for k, v in params.items() if v}), db["PASSWORD"], db["NAME"])

    def connect(self, *, dbname: str | None = None, autocommit: bool = True) -> psycopg.Connection[Any]:
        info = make_conninfo(self.conninfo, dbname=dbname) if dbname else self.conninfo
        return psycopg.connect(
            info, password=self.password or None, autocommit=autocommit, connect_timeout=10
        )

    def tool_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def media_root() -> Path:
    return Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))


def database() -> Database:
    return Database.from_url(env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/warroom"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(args: list[str], env: dict[str, str]) -> str:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(
            f"{args[0]} is not installed: install the PostgreSQL client tools (Debian: postgresql-client; "
            "`make system-deps` does it)."
        ) from exc
    if done.returncode != 0:
        raise BackupError(f"{args[0]} failed (exit {done.returncode}):\n{done.stderr.strip()}")
    return done.stdout


def _check_version(tool: str, conn: psycopg.Connection[Any]) -> int:
    output = _run([tool, "--version"], dict(os.environ))
    found = re.search(r"\)\s*(\d+)", output) or re.search(r"(\d+)\.\d+", output)
    client = int(found.group(1)) if found else 0
    server = conn.info.server_version // 10000
    if client != server:
        raise BackupError(
            f"{tool} {client} does not match the PostgreSQL {server} server: install the version {server} client "
            f"tools (Debian/PGDG: postgresql-client-{server}) and run it again."
        )
    return server


# --- facts: what a restore must reproduce --------------------------------------------------------------------


def collect_facts(cur: psycopg.Cursor[Any]) -> dict[str, Any]:
    counts = {}
    for table in COUNTED:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        row = cur.fetchone()
        counts[table] = int(row[0]) if row else 0
    cur.execute(
        "SELECT p.user_id, p.content_object_id, a.codename FROM incidents_incidentuserobjectpermission p "
        "JOIN auth_permission a ON a.id = p.permission_id ORDER BY 1, 2, 3"
    )
    permissions = hashlib.sha256("\n".join(f"{u} {i} {c}" for u, i, c in cur.fetchall()).encode()).hexdigest()
    cur.execute("SELECT head_seq, head_hash FROM audit_sealer WHERE id = 1")
    head = cur.fetchone()
    return {
        "counts": counts,
        "permissions_sha256": permissions,
        "audit_head": {"seq": int(head[0]), "hash": bytes(head[1]).hex()} if head else {"seq": 0, "hash": ""},
    }


# --- backup --------------------------------------------------------------------------------------------------


def backup(target_dir: Path, db: Database, media: Path) -> dict[str, Any]:
    if target_dir.exists() and any(target_dir.iterdir()):
        raise BackupError(f"{target_dir} is not empty: back up into a new directory.")
    started = time.monotonic()
    target_dir.mkdir(parents=True, exist_ok=True)
    dump = target_dir / DUMP
    with db.connect(autocommit=False) as conn:
        server = _check_version("pg_dump", conn)
        with conn.cursor() as cur:
            # pg_dump dumps exactly this snapshot, so the facts describe exactly what is in the dump.
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()
            assert snapshot is not None
            facts = collect_facts(cur)
            _run(
                [
                    "pg_dump",
                    "--format=custom",
                    f"--snapshot={snapshot[0]}",
                    f"--file={dump}",
                    f"--dbname={db.conninfo}",
                ],
                db.tool_env(),
            )
        conn.rollback()
    _run(["pg_restore", "--list", str(dump)], dict(os.environ))  # the archive's table of contents reads back
    files = _pack_media(media, target_dir / MEDIA)
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "database": {
            "name": db.name,
            "server_major": server,
            "sha256": sha256_file(dump),
            "bytes": dump.stat().st_size,
        },
        "media": {"sha256": sha256_file(target_dir / MEDIA), "files": files},
        **facts,
        "seconds": round(time.monotonic() - started, 2),
    }
    partial = target_dir / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    partial.rename(target_dir / MANIFEST)  # last: a directory with a manifest is a complete backup
    return manifest


def _pack_media(media: Path, tar_path: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    with tarfile.open(tar_path, "w") as tar:
        if media.is_dir():
            for path in sorted(p for p in media.rglob("*") if p.is_file() and not p.is_symlink()):
                name = path.relative_to(media).as_posix()
                files[name] = sha256_file(path)
                tar.add(path, arcname=name, recursive=False)
    return files


# --- restore -------------------------------------------------------------------------------------------------


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} has no {MANIFEST}: it is not a complete backup.")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format')!r}.")
    return manifest


def restore(source: Path, db: Database, media: Path) -> list[str]:
    """Restore into a fresh database and media directory, then check; returns the problems found."""
    manifest = read_manifest(source)
    for name, recorded in ((DUMP, manifest["database"]["sha256"]), (MEDIA, manifest["media"]["sha256"])):
        if not (source / name).is_file() or sha256_file(source / name) != recorded:
            raise BackupError(f"{source / name} is missing or damaged (its sha256 is not the manifest's).")
    if media.exists() and any(media.iterdir()):
        raise BackupError(f"MEDIA_ROOT {media} is not empty: restore into a fresh directory.")
    _fresh_database(db)
    _run(
        [
            "pg_restore",
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            f"--dbname={db.conninfo}",
            str(source / DUMP),
        ],
        db.tool_env(),
    )
    media.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source / MEDIA) as tar:
        tar.extractall(media, filter="data")  # no absolute paths, no escaping links
    return check(db, media, manifest)


def _fresh_database(db: Database) -> None:
    with db.connect(dbname="postgres") as admin:
        _check_version("pg_restore", admin)
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db.name]).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))
            return
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%' "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
        ).fetchone()
    if row and row[0]:
        raise BackupError(
            f"Database {db.name} is not empty: a restore goes into a fresh database. Drop it, or point "
            "DATABASE_URL at a new name."
        )


# --- checks --------------------------------------------------------------------------------------------------


def check(db: Database, media: Path, manifest: dict[str, Any] | None = None) -> list[str]:
    problems: list[str] = []
    with db.connect() as conn:
        head = (manifest or {}).get("audit_head") or {"seq": 0}
        anchor = (head["seq"], bytes.fromhex(head["hash"])) if head["seq"] else None
        verification = chain.verify(conn, anchor=anchor)
        if verification.broken is not None:
            problems.append(f"audit chain: first broken {verification.broken.describe()}")
        with conn.cursor() as cur:
            cur.execute(
                "SELECT p.id, p.sha256, v.sha256, v.body FROM incidents_publication p "
                "JOIN incidents_statementversion v ON v.id = p.version_id ORDER BY p.id"
            )
            for pk, published, version_sha, body in cur.fetchall():
                actual = hashlib.sha256(body.encode("utf-8")).hexdigest()
                if not (actual == published == version_sha):
                    problems.append(f"publication #{pk}: its sha256 does not match its version's text")
            if manifest is not None:
                facts = collect_facts(cur)
                for table, count in manifest["counts"].items():
                    if facts["counts"].get(table) != count:
                        problems.append(f"{table}: {facts['counts'].get(table)} rows, the backup had {count}")
                if facts["permissions_sha256"] != manifest["permissions_sha256"]:
                    problems.append("per-incident permission rows differ from the backup's")
            cur.execute("SELECT stored_name, sha256 FROM incidents_evidence ORDER BY id")
            for stored_name, digest in cur.fetchall():
                path = media / "evidence" / stored_name
                if not path.is_file():
                    problems.append(f"evidence file {stored_name} is missing")
                elif sha256_file(path) != digest:
                    problems.append(f"evidence file {stored_name} does not have its recorded bytes (sha256)")
    for name, digest in ((manifest or {}).get("media", {}).get("files") or {}).items():
        path = media / name
        if not path.is_file() or sha256_file(path) != digest:
            problems.append(f"media file {name} is missing or differs from the backup")
    return problems


# --- command line --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warroom.backup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("backup", help="dump the database and pack MEDIA_ROOT into a new directory").add_argument(
        "dir"
    )
    sub.add_parser(
        "restore", help="restore a backup into a fresh database and MEDIA_ROOT, then check"
    ).add_argument("dir")
    check_parser = sub.add_parser(
        "check", help="run the integrity checks (against a backup's manifest if given)"
    )
    check_parser.add_argument("dir", nargs="?")
    args = parser.parse_args(argv)
    db, media = database(), media_root()
    started = time.monotonic()
    try:
        if args.action == "backup":
            manifest = backup(Path(args.dir), db, media)
            print(
                f"Backed up {db.name} ({manifest['database']['bytes']:,} bytes, audit chain head "
                f"#{manifest['audit_head']['seq']}) and {len(manifest['media']['files'])} file(s) from {media} "
                f"into {args.dir} in {time.monotonic() - started:.1f} s."
            )
            return 0
        if args.action == "restore":
            problems = restore(Path(args.dir), db, media)
        else:
            problems = check(db, media, read_manifest(Path(args.dir)) if args.dir else None)
    except BackupError as exc:
        print(f"{args.action}: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(
        f"{'Restored into' if args.action == 'restore' else 'Checked'} {db.name} and {media} in "
        f"{time.monotonic() - started:.1f} s: the audit chain verifies, every publication matches its version's "
        "text, and every evidence file has its bytes"
        + ("; counts and permission rows are the backup's." if args.dir else ".")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
