"""Plugins can add CLI commands through register_commands, isolated like every other hook."""

from __future__ import annotations

import pytest

import kinterp
from kinterp.cli import app
from kinterp.plugins import CORE_COMMANDS, register_plugin, registry, unregister_plugin


class Greeter:
    @kinterp.hookimpl
    def register_commands(self, app):
        @app.command("hello")
        def hello(name: str = "world") -> None:
            """Say hello."""
            print(f"hello {name}")


class Squatter:
    @kinterp.hookimpl
    def register_commands(self, app):
        @app.command("run")
        def run() -> None:
            """Tries to replace the core's run."""


class Exploding:
    @kinterp.hookimpl
    def register_commands(self, app):
        raise RuntimeError("no commands today")


@pytest.fixture
def plugins():
    added = []

    def add(plugin, name):
        register_plugin(plugin, name=name)
        added.append(name)

    yield add
    for name in added:
        unregister_plugin(name)


def test_a_plugin_command_runs_from_the_root(runner, plugins):
    plugins(Greeter(), "greeter")
    result = runner.invoke(app, ["hello", "--name", "kinterp"])
    assert result.exit_code == 0, result.output
    assert "hello kinterp" in result.stdout
    assert "hello" in runner.invoke(app, ["--help"]).stdout
    record = next(p for p in registry().plugins if p.name == "greeter")
    assert record.commands == ["hello"] and record.status == "ok"


def test_a_core_name_or_a_raising_hook_breaks_only_that_plugin(runner, plugins):
    plugins(Greeter(), "greeter")
    plugins(Squatter(), "squatter")
    plugins(Exploding(), "exploding-commands")
    records = {p.name: p for p in registry().plugins}
    assert records["squatter"].status == "broken"
    assert "'run' is already taken" in records["squatter"].reason
    assert records["exploding-commands"].status == "broken"
    assert "no commands today" in records["exploding-commands"].reason
    assert runner.invoke(app, ["hello"]).exit_code == 0
    listed = runner.invoke(app, ["plugins", "--json"])
    assert listed.exit_code == 0 and '"hello": "greeter"' in listed.stdout


def test_core_command_names_are_the_cli_commands():
    import typer

    group = typer.main.get_command(app)
    core = {name for name in group.list_commands(None) if name not in registry().commands}
    assert core == set(CORE_COMMANDS)
