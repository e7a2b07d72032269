"""The documentation cannot drift from the code: the README's commands, the CLI's help."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
from typer.main import get_command

from tests.clihelp import ROOT
from tracker.cli import cli

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(get_command(cli).commands)  # type: ignore[attr-defined]


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
    click_command = get_command(cli).commands[command]  # type: ignore[attr-defined]
    assert click_command.help, f"tracker {command} has no help text"
    assert f"tracker {command}" in README, f"tracker {command} is not in the README"


def documented_command_lines() -> list[tuple[str, str]]:
    """Every `tracker …` line of the README's and docs' shell examples, as (file, line)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:sh|console)\n(.*?)```", text, flags=re.DOTALL):
            for raw in block.splitlines():
                line = re.split(r"\s{2,}#", raw)[0].strip().removeprefix("$ ")
                # a synopsis's optional parts are parsed as if given: [--failed] → --failed
                line = re.sub(r"\[(-[^\]]*)\]", r"\1", line)
                line = re.sub(r"\[[^\]]*\]", "", line).strip()
                if line.startswith("tracker ") and "…" not in line:
                    found.append((page.name, line))
    return found


def parse_command_line(line: str) -> None:
    """Parse LINE as `tracker` would (options, types, subcommands) without running it.

    Typer builds its commands on its own copy of click, so groups are found by what they do.
    """
    args = shlex.split(line)[1:]
    for stop in ("|", ">", "&&"):
        if stop in args:
            args = args[: args.index(stop)]
    command: Any = get_command(cli)
    context = command.make_context("tracker", list(args))
    while hasattr(command, "resolve_command"):
        rest = [*context._protected_args, *context.args]
        name, command, rest = command.resolve_command(context, rest)
        context = command.make_context(name, rest, parent=context)


DOCUMENTED = documented_command_lines()


def test_the_docs_show_many_command_lines() -> None:
    assert len(DOCUMENTED) > 40
    assert {page for page, _ in DOCUMENTED} >= {"README.md", "webhooks.md", "service.md"}


@pytest.mark.parametrize(
    ("page", "line"), DOCUMENTED, ids=[f"{page}:{line}" for page, line in DOCUMENTED]
)
def test_every_documented_command_line_parses(page: str, line: str) -> None:
    try:
        parse_command_line(line)
    except Exception as error:  # click's errors, from Typer's own copy of click
        if getattr(error, "exit_code", None) != 0:  # 0: a `--help` example
            message = error.format_message() if hasattr(error, "format_message") else repr(error)
            pytest.fail(f"{page}: `{line}` does not parse: {message}")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("tracker list --no-such-option", "No such option"),
        ("tracker check --concurrency many", "valid int"),  # integer (typer ≥ 0.29), int range
        ("tracker source nonsense https://news.example/rss", "No such command"),
    ],
)
def test_a_wrong_line_in_the_docs_would_be_caught(line: str, message: str) -> None:
    with pytest.raises(Exception, match=message):
        parse_command_line(line)
