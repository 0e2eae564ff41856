"""The plugin manager: entry points, isolation, selection, misspelled hooks."""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import run_zoo, write

from zoo import hookimpl
from zoo.compose.kinds import KINDS
from zoo.compose.plugins import load_plugins, register_commands

BUILTIN_PLUGINS = {"backbones", "heads", "losses", "imbalance", "datasets"}


class GoodPlugin:
    @hookimpl
    def zoo_register_heads(self, register: Any) -> None:
        register("extra_head", "nowhere:build", description="a test head")


def names(plugins: Any, kind: str) -> set[str]:
    return {spec.name for spec in plugins.registry.components(kind)}


def test_builtins_load_through_entry_points_like_any_plugin() -> None:
    plugins = load_plugins(environ={})
    records = {r.name: r for r in plugins.records}
    assert set(records) >= BUILTIN_PLUGINS
    for name in BUILTIN_PLUGINS:
        assert records[name].distribution == "erosion-zoo", "built-ins come from our entry points"
        assert records[name].builtin and records[name].error is None
    assert {"thesis_vgg", "inception_v3", "resnet18", "resnet34", "resnet50"} <= names(plugins, "backbones")
    assert names(plugins, "heads") >= {"softmax", "cdf"}
    assert names(plugins, "losses") >= {"cross_entropy", "crps"}
    assert names(plugins, "imbalance") >= {"none", "oversample", "class_weights"}
    assert names(plugins, "datasets") >= {"phantom", "scqm", "manifest"}


def test_disable_autoload_loads_no_entry_point() -> None:
    plugins = load_plugins(environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert plugins.records == []
    assert all(not plugins.registry.components(kind) for kind in KINDS)


def test_zoo_plugins_selects_and_reports_unknown_names() -> None:
    plugins = load_plugins(environ={"ZOO_PLUGINS": "heads, losses,hedas"})
    loaded = {r.name for r in plugins.records if not r.error}
    assert loaded == {"heads", "losses"}
    missing = [r for r in plugins.records if r.error]
    assert len(missing) == 1 and "'hedas', which is not installed; did you mean 'heads'" in missing[0].error
    assert names(plugins, "backbones") == set()


def test_zoo_plugins_overrides_disabled_autoload() -> None:
    plugins = load_plugins(environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "ZOO_PLUGINS": "heads"})
    assert [r.name for r in plugins.records] == ["heads"]


def test_misspelled_hook_is_reported_and_plugin_skipped() -> None:
    class Typo:
        @hookimpl
        def zoo_register_backbone(self, register: Any) -> None:
            register("never", "x:y")

    plugins = load_plugins(
        environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"},
        extra=[("typo", Typo()), ("good", GoodPlugin())],
    )
    typo = next(r for r in plugins.records if r.name == "typo")
    assert "'zoo_register_backbone' is not a zoo hook; did you mean 'zoo_register_backbones'" in typo.error
    assert names(plugins, "heads") == {"extra_head"}, "the other plugin still loads"
    assert plugins.registry.plugins == ["good"]


def test_hook_with_an_argument_the_spec_lacks_is_reported_and_plugin_skipped() -> None:
    class WrongArgument:
        @hookimpl
        def zoo_register_backbones(self, registr: Any) -> None:
            registr("never", "x:y")

    plugins = load_plugins(
        environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"},
        extra=[("wrong", WrongArgument()), ("good", GoodPlugin())],
    )
    wrong = next(r for r in plugins.records if r.name == "wrong")
    assert wrong.error is not None and "could not register" in wrong.error and "registr" in wrong.error
    assert plugins.registry.plugins == ["good"], "the other plugin still loads"


def test_hook_without_marker_is_reported() -> None:
    class Unmarked:
        def zoo_register_heads(self, register: Any) -> None:
            register("never", "x:y")

    plugins = load_plugins(environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("unmarked", Unmarked())])
    assert "lacks the @hookimpl marker" in plugins.records[0].error


def test_plugin_raising_while_registering_is_rolled_back() -> None:
    class Half:
        @hookimpl
        def zoo_register_heads(self, register: Any) -> None:
            register("half_head", "x:y")
            raise RuntimeError("boom")

    plugins = load_plugins(
        environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"},
        extra=[("half", Half()), ("good", GoodPlugin())],
    )
    assert "registration failed: RuntimeError: boom" in plugins.records[0].error
    assert names(plugins, "heads") == {"extra_head"}, "nothing of the failed plugin stays registered"


def test_duplicate_component_from_a_second_plugin_names_both() -> None:
    class Clash:
        @hookimpl
        def zoo_register_backbones(self, register: Any) -> None:
            register("resnet18", "x:y")

    plugins = load_plugins(environ={"ZOO_PLUGINS": "backbones"}, extra=[("clash", Clash())])
    clash = next(r for r in plugins.records if r.name == "clash")
    assert "backbone 'resnet18' is registered by both plugin 'backbones' and plugin 'clash'" in clash.error
    assert plugins.registry.get("backbones", "resnet18").plugin == "backbones"


def _broken_distribution(site: Path, body: str = "raise RuntimeError('this plugin is broken')\n") -> None:
    """A real installed distribution whose plugin module raises on import."""
    write(site / "broken_zoo_plugin.py", body)
    info = site / "broken_zoo_plugin-0.1.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: broken-zoo-plugin\nVersion: 0.1\n")
    write(info / "entry_points.txt", "[zoo]\nbroken = broken_zoo_plugin\n")


def test_plugin_raising_on_import_leaves_the_cli_working(tmp_path: Path) -> None:
    _broken_distribution(tmp_path)
    env = {"PYTHONPATH": str(tmp_path)}
    listed = run_zoo("list", env=env)
    assert listed.code == 0
    assert "thesis_vgg" in listed.out
    assert "plugin 'broken' did not load: import failed: RuntimeError: this plugin is broken" in listed.err
    assert "Traceback" not in listed.err
    shown = run_zoo("plugins", "--json", env=env)
    assert shown.code == 0
    import json

    broken = next(p for p in json.loads(shown.out) if p["name"] == "broken")
    assert broken["distribution"] == "broken-zoo-plugin"
    assert "this plugin is broken" in broken["error"]


def test_listing_and_validating_never_import_torch() -> None:
    code = (
        "import sys\n"
        "from zoo.cli import run_cli\n"
        "assert run_cli(['list']) == 0\n"
        "assert run_cli(['validate', 'recipes/quickstart.yaml']) == 0\n"
        "assert run_cli(['run', 'recipes/quickstart.yaml', '--dry-run']) == 0\n"
        "heavy = sorted(m for m in ('torch', 'timm', 'torchvision', 'pandas', 'sklearn') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_plugin_calling_sys_exit_on_import_is_reported_not_obeyed(tmp_path: Path) -> None:
    _broken_distribution(tmp_path, "import sys\nsys.exit(3)\n")
    listed = run_zoo("list", env={"PYTHONPATH": str(tmp_path)})
    assert listed.code == 0, "one plugin cannot end every command"
    assert "thesis_vgg" in listed.out
    assert "plugin 'broken' did not load: import failed: SystemExit: 3" in listed.err


# Hooks are called through pluggy: wrappers, tryfirst/trylast and monitoring apply, isolation stays.


def test_third_party_hook_wrapper_runs_around_the_other_implementations() -> None:
    calls: list[str] = []

    class Plain:
        @hookimpl
        def zoo_register_backbones(self, register: Any) -> None:
            calls.append("plain")
            register("plain_net", "x:y")

    class Wrapper:
        @hookimpl(wrapper=True)
        def zoo_register_backbones(self, register: Any) -> Generator[None, list[None], list[None]]:
            calls.append("before")
            result = yield
            calls.append(f"after {result}")
            register("wrapped_net", "x:y", description="added by a wrapper")
            return result

    plugins = load_plugins(
        environ={"ZOO_PLUGINS": "backbones"},
        extra=[("wrapper", Wrapper()), ("plain", Plain())],
    )
    assert calls == ["before", "plain", "after []"], "the wrapper runs around the others and sees the result"
    assert plugins.registry.get("backbones", "wrapped_net").plugin == "wrapper"
    assert plugins.registry.get("backbones", "plain_net").plugin == "plain"
    assert plugins.registry.get("backbones", "resnet18").plugin == "backbones"
    assert plugins.registry.plugins == ["backbones", "wrapper", "plain"]
    assert "zoo_register_backbones" in next(r for r in plugins.records if r.name == "wrapper").hooks


def test_tryfirst_and_trylast_are_honoured_and_the_rest_run_in_load_order() -> None:
    calls: list[str] = []

    def plugin(label: str, **opts: bool) -> object:
        class Plugin:
            @hookimpl(**opts)
            def zoo_register_heads(self, register: Any) -> None:
                calls.append(label)

        return Plugin()

    load_plugins(
        environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"},
        extra=[
            ("last", plugin("last", trylast=True)),
            ("a", plugin("a")),
            ("first", plugin("first", tryfirst=True)),
            ("b", plugin("b")),
        ],
    )
    assert calls == ["first", "a", "b", "last"]


def test_tryfirst_does_not_let_a_later_plugin_take_a_name_from_an_earlier_one() -> None:
    class EagerClash:
        @hookimpl(tryfirst=True)
        def zoo_register_backbones(self, register: Any) -> None:
            register("resnet18", "x:y")

    plugins = load_plugins(environ={"ZOO_PLUGINS": "backbones"}, extra=[("clash", EagerClash())])
    clash = next(r for r in plugins.records if r.name == "clash")
    assert "backbone 'resnet18' is registered by both plugin 'backbones' and plugin 'clash'" in clash.error
    assert plugins.registry.get("backbones", "resnet18").plugin == "backbones"
    assert plugins.registry.plugins == ["backbones"]


def test_a_failing_hook_wrapper_is_isolated_and_rolled_back() -> None:
    calls: list[str] = []

    class BadSetup:
        @hookimpl(wrapper=True)
        def zoo_register_heads(self, register: Any) -> Generator[None, list[None], list[None]]:
            raise RuntimeError("setup boom")
            yield  # pragma: no cover

    class BadTeardown:
        @hookimpl(wrapper=True)
        def zoo_register_heads(self, register: Any) -> Generator[None, list[None], list[None]]:
            register("teardown_head", "x:y")
            result = yield
            calls.append("teardown")
            raise RuntimeError("teardown boom")
            return result  # pragma: no cover

    class Plain:
        @hookimpl
        def zoo_register_heads(self, register: Any) -> None:
            calls.append("plain")
            register("plain_head", "x:y")

    plugins = load_plugins(
        environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"},
        extra=[("setup", BadSetup()), ("teardown", BadTeardown()), ("plain", Plain())],
    )
    errors = {r.name: r.error for r in plugins.records}
    assert errors == {
        "setup": "registration failed: RuntimeError: setup boom",
        "teardown": "registration failed: RuntimeError: teardown boom",
        "plain": None,
    }
    assert calls == ["plain", "teardown"]
    assert names(plugins, "heads") == {"plain_head"}, "nothing of the failed wrapper stays registered"
    assert plugins.registry.plugins == ["plain"]


def test_sys_exit_in_a_hook_is_reported_and_a_failed_plugin_gets_no_later_hooks() -> None:
    calls: list[str] = []

    class Exits:
        @hookimpl
        def zoo_register_backbones(self, register: Any) -> None:
            register("exit_net", "x:y")
            raise SystemExit(3)

        @hookimpl
        def zoo_register_heads(self, register: Any) -> None:
            calls.append("exits heads")

    plugins = load_plugins(
        environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"},
        extra=[("exits", Exits()), ("good", GoodPlugin())],
    )
    assert plugins.records[0].error == "registration failed: SystemExit: 3"
    assert calls == []
    assert names(plugins, "backbones") == set()
    assert names(plugins, "heads") == {"extra_head"}
    assert plugins.manager.get_plugin("exits") is None


def test_keyboard_interrupt_in_a_hook_is_not_swallowed() -> None:
    class Interrupted:
        @hookimpl
        def zoo_register_heads(self, register: Any) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_plugins(environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("ctrl_c", Interrupted())])


def test_command_hooks_go_through_pluggy_monitoring_and_stay_isolated() -> None:
    class Broken:
        @hookimpl
        def zoo_register_commands(self, commands: Any) -> None:
            raise RuntimeError("no commands today")

    class Adds:
        @hookimpl
        def zoo_register_commands(self, commands: Any) -> None:
            commands.added.append("mine")

    plugins = load_plugins(
        environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"},
        extra=[("broken", Broken()), ("adds", Adds())],
    )
    seen: list[str] = []
    plugins.manager.add_hookcall_monitoring(
        lambda hook_name, impls, kwargs: seen.append(hook_name),
        lambda outcome, hook_name, impls, kwargs: None,
    )
    commands = SimpleNamespace(added=[])
    register_commands(plugins, commands)
    assert seen == ["zoo_register_commands"]
    assert commands.added == ["mine"]
    records = {r.name: r for r in plugins.records}
    assert records["broken"].error == "command registration failed: RuntimeError: no commands today"
    assert records["adds"].error is None and records["adds"].hooks == ["zoo_register_commands"]


def test_entry_points_are_read_as_importlib_metadata_reads_them(tmp_path: Path) -> None:
    """The zoo reads group `zoo` without importing importlib.metadata, and finds what it finds."""
    import importlib.metadata
    import subprocess
    import sys

    from conftest import ROOT

    site = tmp_path / "site"
    info = site / "Extra_Zoo.Plugin-2.0.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: Extra_Zoo.Plugin\nVersion: 2.0\n\nbody\n")
    write(info / "entry_points.txt", "[console_scripts]\nx = y:z\n\n[zoo]\nextra = extra_zoo_plugin:hooks\n")
    code = (
        "import importlib.metadata, json\n"
        "from zoo.compose.entry_points import entry_points\n"
        "ours = [(e.name, e.value, e.distribution, e.version) for e in entry_points('zoo')]\n"
        "theirs = [(e.name, e.value, e.dist.name, e.dist.version) for e in importlib.metadata.entry_points(group='zoo')]\n"
        "print(json.dumps([sorted(ours), sorted(theirs)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(site)}
    )
    assert done.returncode == 0, done.stderr
    ours, theirs = json.loads(done.stdout)
    assert ours == theirs
    assert ["extra", "extra_zoo_plugin:hooks", "Extra_Zoo.Plugin", "2.0"] in ours
    assert {name for name, *_ in ours} >= {"backbones", "phantom", "realism", "trackers"}
    assert importlib.metadata.version("erosion-zoo") in {version for *_, version in ours}
