"""Lifecycle hooks: a plugin hears a run start, each epoch end and the run finish, and adds a
section to `zoo analyze`'s report; a plugin that raises is one warning and the run goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import write
from test_training import TINY

from zoo import hookimpl
from zoo.cli.recipes import run_recipe
from zoo.compose.lifecycle import Lifecycle
from zoo.compose.plugins import Plugins, load_plugins
from zoo.compose.recipe import load_recipe
from zoo.output import OutputFormat
from zoo.runs import RunFolder, RunInfo


class Listener:
    """A plugin that writes down what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, Any]] = []

    @hookimpl
    def zoo_run_started(self, run: RunInfo) -> None:
        self.heard.append(("started", (run.name, run.resumed, run.recipe["name"], run.folder.recipe_file.is_file())))

    @hookimpl
    def zoo_epoch_ended(self, run: RunInfo, epoch: int, metrics: dict[str, float]) -> None:
        self.heard.append(("epoch", (run.name, epoch, sorted(metrics))))

    @hookimpl
    def zoo_run_finished(self, run: RunInfo, results: dict[str, Any]) -> None:
        self.heard.append(("finished", (run.name, sorted(results["splits"]), run.folder.metrics_file.is_file())))

    @hookimpl
    def zoo_report_sections(self, run: RunFolder, report: Any) -> None:
        import matplotlib.pyplot as plt

        report.heading("Listener's section")
        report.text(f"<b>{run.read_metrics()['recipe']}</b> as text, escaped")
        report.table(["split", "n"], [[split, entry["n"]] for split, entry in run.read_metrics()["splits"].items()])
        figure, axes = plt.subplots()
        axes.plot([0, 1], [0, 1])
        report.figure(figure, "listener-line", "a line the plugin drew")


class Broken:
    """A plugin whose every lifecycle hook raises."""

    @hookimpl
    def zoo_run_started(self, run: RunInfo) -> None:
        raise RuntimeError("cannot reach the tracking server")

    @hookimpl
    def zoo_epoch_ended(self, run: RunInfo, epoch: int, metrics: dict[str, float]) -> None:
        raise RuntimeError("cannot reach the tracking server")

    @hookimpl
    def zoo_report_sections(self, run: RunFolder, report: Any) -> None:
        raise RuntimeError("no section today")


def with_plugins(*extra: tuple[str, object]) -> Plugins:
    return load_plugins(environ={}, extra=extra)


def train(plugins: Plugins, tmp_path: Path, epochs: int = 2) -> tuple[Path, dict[str, Any]]:
    recipe_file = write(tmp_path / "tiny.yaml", TINY.replace("EPOCHS", str(epochs)))
    recipe = load_recipe(recipe_file, plugins.registry)
    folder, results = run_recipe(recipe, plugins.registry, plugins, tmp_path / "runs", OutputFormat.json)
    assert results is not None
    return folder, results


def test_a_plugin_hears_the_run_start_every_epoch_and_the_finish(tmp_path: Path) -> None:
    listener = Listener()
    folder, _ = train(with_plugins(("listener", listener)), tmp_path)
    names = [what for what, _ in listener.heard]
    assert names == ["started", "epoch", "epoch", "finished"]
    assert listener.heard[0][1] == (folder.name, False, "tiny", True), "the folder holds the recipe when it starts"
    epochs = [detail for what, detail in listener.heard if what == "epoch"]
    assert [epoch for _, epoch, _ in epochs] == [1, 2]
    assert {"train_loss", "val_loss", "val_quadratic_weighted_kappa", "lr"} <= set(epochs[0][2])
    assert listener.heard[-1][1] == (folder.name, ["test", "val"], True), "metrics.json is written when it finishes"


def test_a_plugin_that_raises_is_one_warning_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listener = Listener()
    folder, results = train(with_plugins(("broken", Broken()), ("listener", listener)), tmp_path)
    err = capsys.readouterr().err
    assert "Warning: plugin 'broken' failed in zoo_run_started (RuntimeError: cannot reach the tracking server)" in err
    assert err.count("failed in zoo_epoch_ended") == 2
    assert (folder / "metrics.json").is_file() and results["splits"]
    assert [what for what, _ in listener.heard][-1] == "finished", "the other plugins still hear every hook"


def test_a_plugin_adds_a_section_to_the_report_and_a_failing_one_is_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zoo.using.analyze import analyze

    plugins = with_plugins(("listener", Listener()), ("broken", Broken()))
    folder, _ = train(plugins, tmp_path, epochs=1)
    report = analyze(folder, plugins).read_text()
    assert "<h2>Listener&#x27;s section</h2>" in report
    assert "&lt;b&gt;tiny&lt;/b&gt; as text, escaped" in report, "a plugin's text is escaped"
    assert "<td>test</td>" in report and (folder / "report" / "listener-line.png").is_file()
    assert "a line the plugin drew" in report
    err = capsys.readouterr().err
    assert "Warning: plugin 'broken' failed to add its report section (RuntimeError: no section today)" in err


def test_a_recipe_tracker_is_registered_for_its_run_only() -> None:
    plugins = with_plugins()
    heard: list[str] = []

    class Tracker:
        @hookimpl
        def zoo_run_started(self, run: RunInfo) -> None:
            heard.append(run.name)

    lifecycle = Lifecycle(plugins.manager, ("tracker:fake", Tracker()))
    run = RunInfo(RunFolder(Path("runs/x-1")), {"name": "x"}, resumed=False)
    with lifecycle:
        lifecycle.started(run)
    Lifecycle(plugins.manager).started(run)  # after the run: unregistered
    assert heard == ["x-1"], "heard during its run, not after"
