"""The documentation cannot drift from the code: the README's commands, the CLI's help."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command

from tests.clihelp import ROOT
from tracker.cli import app

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    return [line for block in blocks[:2] for line in block.strip().splitlines()]


def test_ci_runs_the_readme_test_command() -> None:
    install_and_run, test_command = readme_commands()[:2]
    assert "tracker run" in install_and_run
    assert "pip install -e ." in install_and_run
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_documented(command: str) -> None:
    click_command = get_command(app).commands[command]  # type: ignore[attr-defined]
    assert click_command.help, f"tracker {command} has no help text"
    assert f"tracker {command}" in README, f"tracker {command} is not in the README"
