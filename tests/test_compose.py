"""docker-compose.yml checked without a Docker engine: every service's command names a real
entry point with valid options, every variable it needs is set and points at a service, and
start-up order waits on health, not on luck."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.clihelp import ROOT
from tracker.cli import app

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
    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", TRACKER_SERVICES)
def test_needed_variables_are_set_and_point_at_services(name: str) -> None:
    env = SERVICES[name]["environment"]
    database = env["TRACKER_DATABASE_URL"]
    broker = env["TRACKER_BROKER_URL"]
    assert re.match(
        r"postgresql://[^@]+@postgres:5432/\w+$",
        database.replace("${POSTGRES_PASSWORD:-tracker}", "pw"),
    )
    assert broker.startswith("redis://redis:6379/")
    postgres_env = SERVICES["postgres"]["environment"]
    user = database.split("//", 1)[1].split(":", 1)[0]
    assert user == postgres_env["POSTGRES_USER"]
    assert database.rsplit("/", 1)[1] == postgres_env["POSTGRES_DB"]


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
    words = shlex.split(check[1]) if check[0] == "CMD-SHELL" else check[1:]
    if words[0] == "tracker":
        assert CliRunner().invoke(app, [*words[1:], "--help"]).exit_code == 0
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


def test_dockerfile_installs_the_worker_extra_and_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install '.[worker]'" in dockerfile
    for package in ("tracker", "db", "workers"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "USER tracker" in dockerfile


def test_the_beat_is_healthy_only_while_it_ticks() -> None:
    # tracker status answers while the beat is stalled; tracker beat --check does not
    # (tests/test_beat_health.py).
    assert SERVICES["beat"]["healthcheck"]["test"] == ["CMD", "tracker", "beat", "--check"]
