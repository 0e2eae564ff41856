"""The plugin manager: entry points, isolation, selection, misspelled hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import run_zoo, write

from zoo import hookimpl
from zoo.kinds import KINDS
from zoo.plugins import load_plugins

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
