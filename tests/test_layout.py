"""The package layout holds: one import direction between the domain packages, the domain
never imports a front end or Flask, and `cpq --help` loads no command module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli.main import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
#: lowest first: a package may import itself and the packages before it
DOMAIN = ("core", "catalog", "configurator", "rules", "sales", "billing")
FRONT_ENDS = ("api", "web", "cli", "tasks")
#: which front ends another may use: pages use the API's auth, errors and schemas; the CLI
#: prints the API's JSON and runs the worker's tasks by hand; the app factory (api/app.py
#: alone) mounts the pages
FRONT_END_USES = {"api": {"web"}, "web": {"api"}, "cli": {"api", "tasks"}, "tasks": set()}
WEB_FRAMEWORKS = ("flask", "flask_smorest", "werkzeug", "webargs")


def imported_packages(source: str) -> set[str]:
    """The top-level names a module imports anywhere (module level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def violations(package: str, module: str, source: str) -> list[str]:
    """What a module of `package` imports against the layout (empty when it keeps to it)."""
    found = []
    for name in sorted(imported_packages(source)):
        if package in DOMAIN:
            if name in FRONT_ENDS or name in WEB_FRAMEWORKS:
                found.append(f"{module} imports {name}: the domain never imports a front end or the web framework")
            elif name in DOMAIN and DOMAIN.index(name) > DOMAIN.index(package):
                found.append(f"{module} imports {name}, which is above {package}")
        elif name in FRONT_ENDS and name != package:
            if name not in FRONT_END_USES[package] or (package, name) == ("api", "web") and module != "api/app.py":
                found.append(f"{module} imports the front end {name}")
    return found


def test_every_module_keeps_to_the_layout():
    found = []
    for package in DOMAIN + FRONT_ENDS:
        for path in sorted((ROOT / package).rglob("*.py")):
            found += violations(package, str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
    assert found == []


@pytest.mark.parametrize("package, source", [
    ("sales", "from billing import ledger"),
    ("rules", "def f():\n    from sales.orders import get_order"),
    ("billing", "import flask"),
    ("catalog", "from api.auth import caller"),
    ("web", "from cli.common import database"),
    ("api", "from web.shell import page"),             # only the app factory mounts the pages
])
def test_the_check_catches_an_import_against_the_layout(package, source):
    assert violations(package, f"{package}/example.py", source)


def test_help_lists_every_command_without_loading_one():
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom cli.main import cli\n"
             "result = CliRunner().invoke(cli, ['--help'])\nassert result.exit_code == 0, result.output\n"
             "print(result.output)\nprint('MODULES', ' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    help_text, _, modules = out.partition("MODULES ")
    loaded = {name.partition(".")[0] for name in modules.split()}
    assert loaded.isdisjoint(DOMAIN + ("api", "web", "sqlalchemy", "sqlmodel", "flask")), loaded
    assert not any(name.startswith("cli.") and name != "cli.main" for name in modules.split())
    for name in COMMANDS:
        assert f"\n  {name} " in help_text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_loads_and_its_summary_is_its_own(name):
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.name == name
    assert command.get_short_help_str(limit=200) == COMMANDS[name][1]
