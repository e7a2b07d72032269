"""docker-compose.yml checked without a Docker engine: every service's command names a real
entry point with valid options, every variable it needs is set and points at a service, and
start-up order waits on health, not on luck."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version
from typer.testing import CliRunner

from tests.clihelp import ROOT
from tracker.cli import cli

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
TRACKER_SERVICES = [name for name, s in SERVICES.items() if "build" in s]


def test_the_deployment_has_every_role() -> None:
    assert {"redis", "postgres", "migrate", "worker", "beat"} <= set(SERVICES)
    assert set(TRACKER_SERVICES) == {"migrate", "worker", "beat", "web"}


@pytest.mark.parametrize("name", TRACKER_SERVICES)
def test_command_is_a_real_entry_point_with_valid_options(name: str) -> None:
    command = SERVICES[name]["command"]
    assert command[0] == "tracker"
    result = CliRunner().invoke(cli, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", TRACKER_SERVICES)
def test_needed_variables_are_set_and_point_at_services(name: str) -> None:
    env = SERVICES[name]["environment"]
    database = env["TRACKER_DATABASE_URL"]
    broker = env["TRACKER_BROKER_URL"]
    # No password in the URL (it comes from the postgres_password secret, as PGPASSWORD).
    found = re.match(r"postgresql://(\w+)@postgres:5432/(\w+)(\?connect_timeout=\d+)?$",
                     database)
    assert found, database
    assert broker.startswith("redis://redis:6379/")
    postgres_env = SERVICES["postgres"]["environment"]
    assert found.group(1) == postgres_env["POSTGRES_USER"]
    assert found.group(2) == postgres_env["POSTGRES_DB"]


def test_start_up_waits_for_health_and_the_migration() -> None:
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    web = SERVICES["web"]["depends_on"]
    assert web["migrate"]["condition"] == "service_completed_successfully"
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits on {dependency}"


@pytest.mark.parametrize("name", ["redis", "postgres", "worker", "beat", "web"])
def test_long_running_services_have_healthchecks(name: str) -> None:
    check = SERVICES[name]["healthcheck"]["test"]
    # A shell line: its first command, up to a redirection or the next command.
    words = (shlex.split(re.split(r"[;>|&]", check[1])[0]) if check[0] == "CMD-SHELL"
             else check[1:])
    if words[0] == "tracker":
        assert CliRunner().invoke(cli, [*words[1:], "--help"]).exit_code == 0
    elif words[0] == "celery":
        assert words[1:3] == ["-A", "workers"]
    elif words[0] == "python":
        assert "/readyz" in words[-1]  # the web view's readiness: database and schema


def test_web_view_is_published_on_this_machine_only() -> None:
    command = SERVICES["web"]["command"]
    port = command[command.index("--port") + 1]
    assert SERVICES["web"]["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_postgres_keeps_its_data_in_a_volume() -> None:
    assert any(v.endswith(":/var/lib/postgresql/data") for v in SERVICES["postgres"]["volumes"])
    assert "postgres-data" in COMPOSE["volumes"]


def test_dockerfile_installs_the_locked_dependencies_and_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.lock" in dockerfile
    assert "pip install --no-deps -c requirements.lock '.[worker]'" in dockerfile
    assert "pip check" in dockerfile
    for package in ("tracker", "db", "workers"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "USER tracker" in dockerfile
    assert 'ENTRYPOINT ["tracker-entrypoint"]' in dockerfile
    assert "COPY docker/entrypoint.sh /usr/local/bin/tracker-entrypoint" in dockerfile


# --- for real use: locked dependencies, secrets, logs, workers ---------------------------------


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[canonical(name)] = version
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_pins_every_runtime_and_worker_dependency() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["worker"]]
    pins = locked()
    for requirement in wanted:
        name = canonical(re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0])
        assert name in pins, f"{name} is not in requirements.lock: run the command in its header"
    assert {"kombu", "redis", "billiard"} <= set(pins)  # and what they pull in


def direct_requirements() -> list[Requirement]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in
            [*project["dependencies"], *project["optional-dependencies"]["worker"]]]


def test_the_lock_satisfies_what_pyproject_asks_for() -> None:
    pins = locked()
    for requirement in direct_requirements():
        pinned = pins[canonical(requirement.name)]
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"requirements.lock pins {requirement.name} {pinned}, outside {requirement}: "
            "run the command in its header")


def test_the_lock_agrees_with_the_tested_environment() -> None:
    """The image and the tests run the same release series of every direct dependency. A
    patch release published since the lock was made (a fresh install takes it) is no reason to
    fail; a new minor or major release is: run the command in the lock's header."""
    from importlib.metadata import PackageNotFoundError, version

    pins, differing = locked(), []
    for requirement in direct_requirements():
        name = canonical(requirement.name)
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if Version(installed).release[:2] != Version(pins[name]).release[:2]:
            differing.append(f"{name} {installed} (locked {pins[name]})")
    assert not differing, "tested with other versions than the image gets: " + ", ".join(
        differing)


def test_no_default_password_and_the_secret_key_is_required() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:" not in text  # only POSTGRES_PASSWORD_FILE, from a secret
    assert ":-tracker}" not in text
    postgres = SERVICES["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert postgres["secrets"] == ["postgres_password"]
    assert set(COMPOSE["secrets"]) == {"postgres_password", "tracker_secret_key"}
    for name in TRACKER_SERVICES:
        service = SERVICES[name]
        assert set(service["secrets"]) == {"postgres_password", "tracker_secret_key"}
        assert service["environment"]["TRACKER_REQUIRE_SECRET_KEY"] == "1"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "secrets/" in ignored


@pytest.mark.parametrize("name", list(SERVICES))
def test_every_container_log_is_rotated(name: str) -> None:
    logging_ = SERVICES[name]["logging"]
    assert logging_["driver"] == "json-file"
    assert logging_["options"]["max-size"].endswith("m")
    assert int(logging_["options"]["max-file"]) >= 2


def test_workers_take_the_containers_cpus_and_a_node_name() -> None:
    command = SERVICES["worker"]["command"]
    assert "--concurrency" not in command  # default: the CPUs the container may use
    name = command[command.index("--name") + 1]
    assert name.endswith("@%h")
    ping = SERVICES["worker"]["healthcheck"]["test"][1]
    assert f"-d {name.replace('%h', '$$HOSTNAME')}" in ping  # pings this very node
    for role in ("worker", "beat"):
        assert "--metrics-port" in SERVICES[role]["command"]


def test_redis_persists_and_every_service_restarts() -> None:
    command = SERVICES["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    for name, service in SERVICES.items():
        if name != "migrate":
            assert service["restart"] == "unless-stopped", name


# --- the entry point, run for real with sh ----------------------------------------------------


def entrypoint(secrets: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"PGPASSWORD", "TRACKER_SECRET_KEY", "TRACKER_REQUIRE_SECRET_KEY"}}
    clean["TRACKER_SECRETS_DIR"] = str(secrets or "/nonexistent")
    return subprocess.run(
        ["sh", str(ROOT / "docker" / "entrypoint.sh"), "sh", "-c",
         'echo "pg=${PGPASSWORD:-} key=${TRACKER_SECRET_KEY:-}"'],
        capture_output=True, text=True, env={**clean, **env}, timeout=30,
    )


def test_entrypoint_reads_docker_secrets_into_the_environment(tmp_path: Path) -> None:
    (tmp_path / "postgres_password").write_text("s3 cr$t'\n")
    (tmp_path / "tracker_secret_key").write_text("a-fernet-key\n")
    result = entrypoint(tmp_path, TRACKER_REQUIRE_SECRET_KEY="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pg=s3 cr$t' key=a-fernet-key\n"
    # A variable set wins over its file.
    result = entrypoint(tmp_path, PGPASSWORD="from-env", TRACKER_SECRET_KEY="k2")
    assert result.stdout == "pg=from-env key=k2\n"


def test_entrypoint_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = entrypoint(tmp_path, TRACKER_REQUIRE_SECRET_KEY="1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("tracker: error: no TRACKER_SECRET_KEY")
    assert entrypoint(None).returncode == 0  # outside compose: not required


def test_the_beat_is_healthy_only_while_it_ticks() -> None:
    # tracker status answers while the beat is stalled; tracker beat --check does not
    # (tests/test_beat_health.py).
    assert SERVICES["beat"]["healthcheck"]["test"] == ["CMD", "tracker", "beat", "--check"]
