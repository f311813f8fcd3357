"""Checks of the container setup (docker-compose.yml, Dockerfile, .dockerignore) that need no Docker engine.

Nothing here touches the database, so the file runs the same with or without pytest-django.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
# From the running venv, not PATH: the test must exercise the pinned dev dependency.
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

CORE_SERVICES = ("db", "redis", "web", "events", "worker", "beat")
APP_SERVICES = ("web", "events", "worker", "beat")
MEDIA_ROOT = "/app/var/media"
PGDATA = "/var/lib/postgresql/data"
LOOPBACK = {"127.0.0.1", "::1"}


def _load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    # The safe loader resolves the `<<: *app` merge keys, so each service is seen as compose sees it.
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _load()["services"]
    assert isinstance(services, dict)
    return services


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Target -> condition, for both the list and the mapping form."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _one_shot_services(services: dict[str, dict[str, Any]]) -> set[str]:
    return {
        target
        for service in services.values()
        for target, condition in _depends_on(service).items()
        if condition == "service_completed_successfully"
    }


def _validate_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _host_ip(port: Any) -> str:
    """Host address a `ports:` entry binds to; "" means every interface."""
    if isinstance(port, dict):
        return str(port.get("host_ip", ""))
    spec = str(port).split("/", 1)[0]
    if spec.startswith("["):  # [::1]:5432:5432
        return spec[1 : spec.index("]")]
    parts = spec.rsplit(":", 2)
    return parts[0] if len(parts) == 3 else ""


def _compose_commands() -> list[list[str]]:
    commands: list[list[str]] = []
    if shutil.which("docker-compose"):
        commands.append(["docker-compose"])
    if shutil.which("docker"):
        try:
            probe = subprocess.run(
                ["docker", "compose", "version"], capture_output=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return commands
        if probe.returncode == 0:
            commands.append(["docker", "compose"])
    return commands


COMPOSE_COMMANDS = _compose_commands()


def _compose_config(
    command: list[str], tmp_path: Path, extra_env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    # An empty --env-file keeps a developer's .env (which may hold SECRET_KEY) out of the result.
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY" and not k.startswith("COMPOSE_")}
    env.update(extra_env)
    return subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )


# --- schema -------------------------------------------------------------------------------------------------


def test_compose_file_matches_compose_spec_schema() -> None:
    result = _validate_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_validation_rejects_an_unknown_key(tmp_path: Path) -> None:
    original = COMPOSE_FILE.read_text(encoding="utf-8")
    assert original.count("\n  web:\n") == 1

    faithful_copy = tmp_path / "unchanged.yml"
    faithful_copy.write_text(original, encoding="utf-8")
    assert _validate_schema(faithful_copy).returncode == 0, "the copy alone must not be what fails"

    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        original.replace("\n  web:\n", "\n  web:\n    not_a_compose_key: true\n"),
        encoding="utf-8",
    )
    result = _validate_schema(broken)
    assert result.returncode != 0
    assert "not_a_compose_key" in result.stdout + result.stderr


@pytest.mark.skipif(
    not COMPOSE_COMMANDS, reason="neither docker-compose nor the docker compose plugin is installed"
)
@pytest.mark.parametrize("command", COMPOSE_COMMANDS, ids=" ".join)
def test_compose_config_accepts_the_file(command: list[str], tmp_path: Path) -> None:
    result = _compose_config(command, tmp_path, {"SECRET_KEY": "test-only-dummy"})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    not COMPOSE_COMMANDS, reason="neither docker-compose nor the docker compose plugin is installed"
)
@pytest.mark.parametrize("command", COMPOSE_COMMANDS, ids=" ".join)
def test_compose_refuses_to_start_without_a_secret_key(command: list[str], tmp_path: Path) -> None:
    result = _compose_config(command, tmp_path, {})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr


# --- structure ----------------------------------------------------------------------------------------------


def test_core_services_exist() -> None:
    assert set(CORE_SERVICES) <= set(_services())


def test_every_dependency_target_exists() -> None:
    services = _services()
    for name, service in services.items():
        for target in _depends_on(service):
            assert target in services, f"{name} depends on unknown service {target}"


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart() -> None:
    services = _services()
    one_shots = _one_shot_services(services)
    for name, service in services.items():
        if name in one_shots:
            # Any other restart policy would rerun the job forever.
            assert service.get("restart") == "no", name
            continue
        healthcheck = service.get("healthcheck") or {}
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), name
        assert healthcheck["test"] != ["NONE"], name


def test_schema_users_wait_for_migrations() -> None:
    services = _services()
    migrators = [
        name
        for name, s in services.items()
        if "migrate" in (s.get("command") or []) and "manage.py" in s["command"]
    ]
    assert len(migrators) == 1, migrators
    for name in ("web", "worker", "beat"):
        assert _depends_on(services[name]).get(migrators[0]) == "service_completed_successfully", name


def test_db_is_postgres_16() -> None:
    assert re.fullmatch(r"postgres:16([.-].*)?", _services()["db"]["image"])


def test_named_volumes_are_declared_and_hold_the_state() -> None:
    data = _load()
    declared = set(data.get("volumes") or {})
    mounts: dict[str, dict[str, str]] = {}
    for name, service in data["services"].items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                source, target = volume.get("source", ""), volume["target"]
            else:
                source, _, rest = str(volume).partition(":")
                target = rest.split(":", 1)[0]
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in declared, f"{name} mounts undeclared volume {source}"
            mounts.setdefault(name, {})[target] = source
    assert mounts["db"].get(PGDATA) in declared
    for name in ("web", "worker"):
        assert mounts[name].get(MEDIA_ROOT) in declared, name
    assert len({mounts[name][MEDIA_ROOT] for name in ("web", "worker")}) == 1


def test_application_processes_share_one_image_built_from_the_dockerfile() -> None:
    services = _services()
    images = {services[name].get("image") for name in APP_SERVICES}
    assert None not in images
    assert len(images) == 1, images
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert isinstance(build, dict), name
        assert (
            REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        ).resolve() == DOCKERFILE


def test_published_ports_are_loopback_only() -> None:
    # db and redis have no auth worth the name, and the app trusts X-Forwarded-Proto from its TLS proxy
    # (BEHIND_TLS_PROXY), which is only safe while nothing but the host's proxy can reach the ports.
    for name, service in _services().items():
        for port in service.get("ports") or []:
            host_ip = _host_ip(port)
            assert host_ip in LOOPBACK, f"{name} publishes {port!r} beyond loopback"


def test_app_environment_has_no_default_secret_and_no_debug() -> None:
    services = _services()
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert isinstance(env, dict), name
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", env["SECRET_KEY"]), name
        assert str(env["DEBUG"]).lower() == "false", name


def test_healthchecks_escape_container_variables() -> None:
    # A single `$` is interpolated by compose on the deploying host (HOSTNAME would name the host, not the
    # container); `$$` reaches the container's shell.
    for name, service in _services().items():
        test = (service.get("healthcheck") or {}).get("test") or []
        text = " ".join(test) if isinstance(test, list) else str(test)
        assert not re.search(r"(?<!\$)\$(?!\$)", text), f"{name}: unescaped $ in {text!r}"


def test_redis_never_evicts_broker_keys() -> None:
    command = _services()["redis"]["command"]
    args = command if isinstance(command, list) else str(command).split()
    assert "--maxmemory-policy" in args
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"


# --- image --------------------------------------------------------------------------------------------------


def _final_stage(dockerfile: str) -> list[str]:
    lines = [
        line.strip() for line in dockerfile.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[last_from:]


def test_image_runs_as_a_non_root_user() -> None:
    users = [
        line.split(None, 1)[1]
        for line in _final_stage(DOCKERFILE.read_text())
        if line.upper().startswith("USER ")
    ]
    assert users, "the final stage never leaves root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_image_installs_the_locked_production_dependencies() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert "python:3.11-slim-bookworm" in dockerfile
    assert re.search(r"uv sync\b[^\n]*--frozen", dockerfile)
    assert re.search(r"uv sync\b[^\n]*--no-dev", dockerfile)


def test_build_context_leaves_out_local_venv_and_secrets() -> None:
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", ".env", ".git"} <= patterns


def _uv() -> str | None:
    local = REPO / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


@pytest.mark.skipif(_uv() is None, reason="uv is not installed")
def test_production_dependencies_suffice_to_load_every_entry_point(tmp_path: Path) -> None:
    """The image installs `--no-dev`; a settings import that only the dev group provides breaks every process."""
    venv = tmp_path / "prod-venv"
    uv = _uv()
    assert uv is not None
    sync = subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--no-install-project", "--python", sys.executable, "-q"],
        cwd=REPO,
        env={
            **{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
            "UV_PROJECT_ENVIRONMENT": str(venv),
            "UV_PYTHON_DOWNLOADS": "never",
        },
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert sync.returncode == 0, sync.stdout + sync.stderr

    # The same dummy environment the Dockerfile's collectstatic step uses; nothing here opens a connection.
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "warroom.settings",
        "SECRET_KEY": "test-only-dummy",
        "DATABASE_URL": "postgresql://build:build@localhost:5432/build",
        "REDIS_URL": "redis://localhost:6379/0",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    load = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import warroom.wsgi, warroom.asgi, warroom.celery, warroom.urls\n"
            "from django.core.management import call_command\n"
            "call_command('check')",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert load.returncode == 0, load.stdout + load.stderr


def test_one_origin_serves_pages_and_streams_through_the_proxy_service() -> None:
    """Browsers reach /events/ on the pages' origin: only the proxy is published, and it routes by path."""
    services = _services()
    proxy = services["proxy"]
    command = proxy["command"]
    assert command[:3] == ["python", "-m", "warroom.proxy"]
    assert command[command.index("--web") + 1] == "web:8000"
    assert command[command.index("--events") + 1] == "events:8001"
    assert command[command.index("--listen") + 1] == "0.0.0.0:8000"
    assert proxy["ports"] == ["127.0.0.1:8000:8000"]
    assert proxy["image"] == services["web"]["image"]  # the same code `make run` runs, from the same image
    assert proxy["restart"] == "unless-stopped"
    for name in ("web", "events"):
        assert not services[name].get("ports"), f"{name} is published beside the proxy"
    for name in APP_SERVICES:
        # The settings' default (/events/) applies; an absolute URL would be refused at start-up.
        assert "EVENTS_URL" not in services[name]["environment"], name
