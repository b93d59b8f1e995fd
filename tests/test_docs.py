"""The README stays true: set-up commands, CI command, options, kernel table.

Run ``python tests/test_docs.py`` to regenerate the kernel table in the
README from the registry after adding or changing a built-in.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import pytest

from imgconv.cli import cli
from imgconv.core.catalog import BUILTINS, FAMILIES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- kernels:start -->", "<!-- kernels:end -->"


def kernel_table() -> str:
    """The README's table of built-ins, made from the registry."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("*", "\\*")

    rows = ["| name | parameters | description |", "| --- | --- | --- |"]
    for family, title in FAMILIES.items():
        rows.append(f"| **{title}** | | |")
        for entry in BUILTINS.values():
            if entry.family == family:
                grammar = entry.params.replace("|", "\\|")  # GFM: a bar in a code span too
                params = f"`{grammar}`" if entry.params else ""
                rows.append(f"| `{entry.name}` | {params} | {cell(entry.summary)} |")
    return "\n".join(rows)


def readme_with_table(text: str) -> str:
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{kernel_table()}\n{END}{after}"


def setup_commands() -> list[str]:
    """The indented commands the README opens with, before any prose."""
    lines = README.read_text().splitlines()
    assert lines[0].startswith("# ")
    block = []
    for line in lines[1:]:
        if not line.strip():
            if block:
                break
            continue
        assert line.startswith("    "), "the README opens with the set-up commands"
        block.append(line.strip())
    return block


def test_readme_opens_with_two_setup_commands() -> None:
    assert setup_commands() == [
        "pip install . && imgconv apply sobel-x sample_images/camera.png camera-edges.png",
        "pip install '.[test]' && pytest",
    ]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup_commands()[1] in [line.strip() for line in ci]


def test_kernel_table_is_in_sync_with_the_registry() -> None:
    text = README.read_text()
    assert text == readme_with_table(text), "run: python tests/test_docs.py"


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += commands(command, path + " ")
    return found


@pytest.mark.parametrize(("path", "command"), commands(cli))
def test_every_command_is_documented(path: str, command: click.Command) -> None:
    assert command.help, f"{path} has no help"
    assert f"imgconv {path}" in README.read_text()


@pytest.mark.parametrize(
    "option",
    sorted(
        {
            opt
            for _, command in commands(cli)
            for param in command.params
            if isinstance(param, click.Option)
            for opt in param.opts
            if opt.startswith("--") and opt != "--help"
        }
    ),
)
def test_every_option_is_in_the_readme(option: str) -> None:
    assert re.search(re.escape(option) + r"\b", README.read_text()), option


if __name__ == "__main__":
    README.write_text(readme_with_table(README.read_text()))
    sys.stdout.write("README kernel table updated\n")
