"""Backup and restore (R32): a backup of a populated database restores into a fresh one, and the restore checks
the audit chain, every publication's sha256 against its version's text, the permission rows and the evidence
bytes. Damaged backups and targets that are not fresh are refused, changing nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from incidents import services
from incidents.audit import chain
from incidents.audit.models import AuditEvent, AuditSeal
from incidents.models import IncidentUserObjectPermission, Publication
from incidents.uploads import clean_upload
from tests.factories_statements import cast as cast  # the fixtures the tests below use
from tests.factories_statements import fully_approved, publish
from tests.factories_statements import seeded as seeded
from tests.test_timeline import png_bytes
from warroom import backup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("psycopg")
if shutil.which("pg_restore") is None:  # `make test` installs it (system-deps)
    pytest.fail("pg_dump/pg_restore are not installed: `make system-deps` installs postgresql-client.")


def source_database() -> backup.Database:
    s = connection.settings_dict
    url = f"postgresql://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return backup.Database.from_url(url)


@pytest.fixture
def fresh_database():
    """A database name nobody uses yet; dropped afterwards."""
    source = source_database()
    name = f"{source.name}_restore_{uuid.uuid4().hex[:8]}"
    target = backup.Database.from_url(
        f"postgresql://{connection.settings_dict['USER']}@{connection.settings_dict['HOST'] or '127.0.0.1'}:"
        f"{connection.settings_dict['PORT'] or 5432}/{name}"
    )
    yield target
    with source.connect(dbname="postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def populated(cast, settings):
    """Incidents with a team, a published statement, an evidence file and sealed audit rows."""
    statement = fully_approved(cast)
    publication = publish(cast, statement)
    evidence = clean_upload(SimpleUploadedFile("screenshot.png", png_bytes(32, 24)))
    services.timeline_post(
        incident=cast.incident,
        actor=cast.commander,
        kind="evidence",
        body="The viral post.",
        files=[evidence],
    )
    connection.ensure_connection()
    chain.seal_all(connection.connection, timeout=180)
    return publication, evidence


def test_a_backup_restores_into_a_fresh_database_with_everything_intact(
    populated, settings, tmp_path, fresh_database
):
    publication, evidence = populated
    media = Path(settings.MEDIA_ROOT)
    stored = media / "evidence" / evidence.stored_name
    assert stored.read_bytes() == evidence.data
    manifest = backup.backup(tmp_path / "backup", source_database(), media)
    assert manifest["audit_head"]["seq"] == AuditSeal.objects.count() > 0
    assert manifest["counts"]["incidents_publication"] == 1
    assert manifest["media"]["files"] == {f"evidence/{evidence.stored_name}": evidence.sha256}

    restored_media = tmp_path / "restored-media"
    problems = backup.restore(tmp_path / "backup", fresh_database, restored_media)
    assert problems == []

    # The checks, again by hand in the restored database: the chain, the publication, the permissions, the file.
    with fresh_database.connect() as conn:
        verification = chain.verify(conn)
        assert verification.ok
        assert verification.links == AuditSeal.objects.count()
        sha, body = conn.execute(
            "SELECT p.sha256, v.body FROM incidents_publication p "
            "JOIN incidents_statementversion v ON v.id = p.version_id WHERE p.id = %s",
            [publication.pk],
        ).fetchone()
        assert sha == hashlib.sha256(body.encode()).hexdigest() == Publication.objects.get().sha256
        restored_permissions = set(
            conn.execute(
                "SELECT user_id, content_object_id, permission_id FROM incidents_incidentuserobjectpermission"
            ).fetchall()
        )
        audit_rows = conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]
    assert restored_permissions == set(
        IncidentUserObjectPermission.objects.values_list("user_id", "content_object_id", "permission_id")
    )
    assert audit_rows == AuditEvent.objects.count()
    assert (restored_media / "evidence" / evidence.stored_name).read_bytes() == evidence.data


def test_the_restore_check_catches_a_changed_publication_and_a_changed_evidence_file(
    populated, settings, tmp_path, fresh_database
):
    _, evidence = populated
    backup.backup(tmp_path / "backup", source_database(), Path(settings.MEDIA_ROOT))
    restored_media = tmp_path / "restored-media"
    assert backup.restore(tmp_path / "backup", fresh_database, restored_media) == []
    with fresh_database.connect() as conn:
        conn.execute(
            "SET session_replication_role = replica"
        )  # past the append-only triggers, as a superuser
        conn.execute("UPDATE incidents_statementversion SET body = body || ' (edited)'")
    (restored_media / "evidence" / evidence.stored_name).write_bytes(b"not the screenshot")
    problems = backup.check(fresh_database, restored_media, backup.read_manifest(tmp_path / "backup"))
    assert any(p.startswith("publication #") for p in problems)
    assert any(evidence.stored_name in p and "bytes" in p for p in problems)


def test_a_damaged_backup_is_refused_and_creates_nothing(populated, settings, tmp_path, fresh_database):
    backup.backup(tmp_path / "backup", source_database(), Path(settings.MEDIA_ROOT))
    with (tmp_path / "backup" / backup.DUMP).open("r+b") as f:
        f.seek(200)
        f.write(b"\x00\x00\x00\x00")
    with pytest.raises(backup.BackupError, match="damaged"):
        backup.restore(tmp_path / "backup", fresh_database, tmp_path / "restored-media")
    with source_database().connect(dbname="postgres") as admin:
        assert (
            admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [fresh_database.name]).fetchone()
            is None
        )
    assert not (tmp_path / "restored-media").exists()


def test_restore_refuses_a_database_that_is_not_fresh_and_leaves_it_alone(populated, settings, tmp_path):
    backup.backup(tmp_path / "backup", source_database(), Path(settings.MEDIA_ROOT))
    before = AuditEvent.objects.count()
    env = {
        **os.environ,
        "DATABASE_URL": _url(source_database()),
        "MEDIA_ROOT": str(tmp_path / "restored-media"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "warroom.backup", "restore", str(tmp_path / "backup")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "is not empty: a restore goes into a fresh database" in done.stderr
    assert AuditEvent.objects.count() == before


def test_backup_refuses_a_directory_that_is_not_empty(populated, settings, tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "something.txt").write_text("mine")
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.backup(tmp_path / "backup", source_database(), Path(settings.MEDIA_ROOT))
    assert [p.name for p in (tmp_path / "backup").iterdir()] == ["something.txt"]


def _url(db: backup.Database) -> str:
    info = psycopg.conninfo.conninfo_to_dict(db.conninfo)
    return f"postgresql://{info.get('user', '')}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{db.name}"
