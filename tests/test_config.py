"""Settings: defaults < config file < environment < explicit overrides, with clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracker.config import Settings, config_path, load_settings


@pytest.fixture
def config_file() -> Path:
    """The config file load_settings reads (under the isolated XDG_CONFIG_HOME), not yet written."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_defaults_apply_without_file_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_ALLOW_NETWORKS")
    monkeypatch.delenv("TRACKER_ALLOWED_PORTS")
    monkeypatch.delenv("TRACKER_PER_HOST_RATE")
    assert load_settings() == Settings()


def test_private_addresses_are_refused_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_ALLOW_NETWORKS")
    monkeypatch.delenv("TRACKER_ALLOWED_PORTS")
    settings = load_settings()
    assert settings.allow_private_addresses is False
    assert (settings.allow_networks, settings.allow_hosts) == ("", "")
    assert settings.allowed_ports == "80,443,8080,8443"


def test_config_file_lives_under_xdg_config_home() -> None:
    assert config_path() == Path(os.environ["XDG_CONFIG_HOME"]) / "tracker" / "config.toml"


def test_tracker_config_names_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text("max_redirects = 2\n")
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    assert load_settings().max_redirects == 2


def test_file_overrides_defaults(config_file: Path) -> None:
    config_file.write_text('read_timeout = 3.5\nuser_agent = "probe/1"\nmax_body_bytes = 1000\n')
    settings = load_settings()
    assert (settings.read_timeout, settings.user_agent, settings.max_body_bytes) == (
        3.5, "probe/1", 1000,
    )  # fmt: skip


def test_environment_overrides_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file.write_text("per_host_concurrency = 3\n")
    monkeypatch.setenv("TRACKER_PER_HOST_CONCURRENCY", "5")
    assert load_settings().per_host_concurrency == 5


def test_overrides_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_READ_TIMEOUT", "7")
    assert load_settings(read_timeout=0.5).read_timeout == 0.5


def test_empty_environment_variable_is_ignored(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text("max_redirects = 2\n")
    monkeypatch.setenv("TRACKER_MAX_REDIRECTS", "")
    assert load_settings().max_redirects == 2


def test_environment_strings_become_the_field_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("TRACKER_MAX_BODY_BYTES", "4096")
    settings = load_settings()
    assert settings.read_timeout == 0.5
    assert settings.max_body_bytes == 4096
    assert isinstance(settings.max_body_bytes, int)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("1", True), ("0", False), ("yes", True), ("no", False), ("true", True), ("False", False),
     ("on", True), ("off", False), (" YES ", True)],
)  # fmt: skip
def test_allow_private_addresses_reads_yes_and_no(
    monkeypatch: pytest.MonkeyPatch, value: str, allowed: bool
) -> None:
    monkeypatch.setenv("TRACKER_ALLOW_PRIVATE_ADDRESSES", value)
    assert load_settings().allow_private_addresses is allowed


def test_bool_in_the_file_is_taken_as_is(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text("allow_private_addresses = true\n")
    assert load_settings().allow_private_addresses is True


@pytest.mark.parametrize("value", ["maybe", "2", "y e s"])
def test_bad_bool_raises_value_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TRACKER_ALLOW_PRIVATE_ADDRESSES", value)
    with pytest.raises(ValueError, match=r"allow_private_addresses: expected a yes/no"):
        load_settings()


def test_bad_number_raises_value_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_READ_TIMEOUT", "fast")
    with pytest.raises(ValueError, match="read_timeout: expected a number, got 'fast'"):
        load_settings()


def test_unknown_key_in_the_file_raises_value_error_naming_it(config_file: Path) -> None:
    config_file.write_text("max_redirects = 2\nread_timout = 5\n")
    with pytest.raises(ValueError, match="read_timout") as caught:
        load_settings()
    assert str(config_file) in str(caught.value)


def test_database_url_defaults_to_sqlite_in_the_data_home() -> None:
    url = load_settings().resolved_database_url
    assert url == f"sqlite:///{Path(os.environ['XDG_DATA_HOME']) / 'tracker' / 'tracker.db'}"
