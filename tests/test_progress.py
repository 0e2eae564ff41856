"""Progress goes to stderr on a terminal only, never changes a result; `--quiet`; shell completion."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, folder_digest, run_zoo, write
from PIL import Image

from zoo import progress
from zoo.compose.metrics import build_metric
from zoo.compose.plugins import get_registry
from zoo.data.cache import decode
from zoo.judging.evaluate import patient_bootstrap
from zoo.predictions import Predictions

RECIPE = """\
name: progress_check
data:
  dataset: {{name: phantom, params: {{patients: 4, visits: 1, size: 32, cache_dir: {cache}}}}}
  target: stage
  image_size: 64
model:
  backbone: {{name: thesis_vgg}}
  head: {{name: softmax}}
loss: {{name: cross_entropy}}
"""


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make rich take stderr for a terminal (it is a capture here)."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("ZOO_QUIET", raising=False)


@pytest.fixture(autouse=True)
def _loud_afterwards() -> Iterator[None]:
    yield
    progress.set_quiet(False)


def stage_predictions() -> Predictions:
    rng = np.random.default_rng(3)
    true = rng.choice(6, 200).astype(float)
    pred = np.clip(true + rng.choice([-1, 0, 1], 200), 0, 5)
    return Predictions("stage", true, pred, np.array([f"p{i % 30}" for i in range(200)]))


# The helper


def test_a_bar_is_drawn_on_a_terminal_and_nested_steps_share_it(terminal: None, capsys) -> None:
    with progress.task("outer step", 2) as step:
        assert list(progress.track(range(3), "inner step")) == [0, 1, 2]
        step.advance(2)
    captured = capsys.readouterr()
    assert "outer step" in captured.err and "inner step" in captured.err
    assert captured.out == ""


def test_no_bar_when_stderr_is_not_a_terminal_or_when_quiet(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for name in ("ZOO_QUIET", "TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    assert list(progress.track(iter(range(4)), "piped step")) == [0, 1, 2, 3]
    assert "piped step" not in capsys.readouterr().err
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TERM", "xterm")
    progress.set_quiet(True)
    with progress.task("quiet step", 1) as step:
        step.advance()
    progress.set_quiet(False)
    monkeypatch.setenv("ZOO_QUIET", "1")
    list(progress.track(range(2), "env-quiet step"))
    err = capsys.readouterr().err
    assert "quiet step" not in err and "env-quiet step" not in err


def test_quiet_also_silences_the_epoch_lines(capsys) -> None:
    progress.EpochProgress().done("epoch 1/1: train loss 0.5")
    progress.set_quiet(True)
    progress.EpochProgress().done("epoch 2/2: train loss 0.4")
    assert capsys.readouterr().err == "epoch 1/1: train loss 0.5\n"


def test_bootstrap_is_the_same_with_and_without_progress(terminal: None, capsys) -> None:
    predictions = stage_predictions()
    metrics = {name: build_metric(get_registry().get("metrics", name)) for name in ("accuracy", "mae")}
    shown = patient_bootstrap(predictions, metrics, 50, seed=4)
    assert "patient bootstrap" in capsys.readouterr().err
    progress.set_quiet(True)
    assert patient_bootstrap(predictions, metrics, 50, seed=4) == shown


def test_decoding_and_the_phantom_are_the_same_with_and_without_progress(
    terminal: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from zoo_plugins.phantom.generator import write_phantom

    write_phantom(tmp_path / "shown", patients=3, visits=1, size=32, seed=1, workers=2)
    paths = []
    for i in range(5):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40), dtype=np.uint8)).save(paths[-1])
    paths.append(str(tmp_path / "missing.png"))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache-shown"))
    shown = decode(paths, 32)
    err = capsys.readouterr().err
    assert "rendering phantom crops" in err and "decoding images" in err and "hashing images" in err
    progress.set_quiet(True)
    write_phantom(tmp_path / "quiet", patients=3, visits=1, size=32, seed=1, workers=1)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache-quiet"))
    quiet = decode(paths, 32)
    assert capsys.readouterr().err == ""
    assert folder_digest(tmp_path / "shown") == folder_digest(tmp_path / "quiet")
    assert np.array_equal(shown.pixels, quiet.pixels) and shown.errors == quiet.errors
    assert shown.folder != quiet.folder, "both were decoded, neither read from the other's cache"


# The CLI


def test_json_output_stays_clean_and_quiet_hides_the_bars(terminal: None, tmp_path: Path, zoo) -> None:
    recipe = write(tmp_path / "check.yaml", RECIPE.format(cache=tmp_path / "phantom"))
    shown = zoo("data", "check", str(recipe), "--json")
    assert shown.code == 0, shown.err
    assert "rendering phantom crops" in shown.err and "decoding images" in shown.err
    report = json.loads(shown.out)  # nothing but the JSON on stdout
    assert report["samples"] == 40
    quiet = zoo("--quiet", "data", "check", str(recipe), "--json")
    assert quiet.code == 0 and quiet.err == ""
    assert json.loads(quiet.out) == report


def test_evaluate_prints_the_same_json_with_and_without_progress(terminal: None, tmp_path: Path, zoo) -> None:
    p = stage_predictions()
    rows = [f"{t:g},{y:g},{patient}" for t, y, patient in zip(p.y_true, p.y_pred, p.patient, strict=True)]
    predictions = write(tmp_path / "p.csv", "y_true,y_pred,patient_id\n" + "\n".join(rows) + "\n")
    shown = zoo("evaluate", str(predictions), "--target", "stage", "--format", "json", "--bootstrap", "100")
    assert shown.code == 0 and "patient bootstrap" in shown.err
    quiet = zoo("--quiet", "evaluate", str(predictions), "--target", "stage", "--format", "json", "--bootstrap", "100")
    assert quiet.code == 0 and "patient bootstrap" not in quiet.err
    assert json.loads(shown.out) == json.loads(quiet.out)


def test_a_pipe_gets_no_progress(tmp_path: Path) -> None:
    p = stage_predictions()
    rows = [f"{t:g},{y:g},{patient}" for t, y, patient in zip(p.y_true, p.y_pred, p.patient, strict=True)]
    predictions = write(tmp_path / "p.csv", "y_true,y_pred,patient_id\n" + "\n".join(rows) + "\n")
    piped = run_zoo(
        "evaluate", str(predictions), "--target", "stage", "--json", "--bootstrap", "100", env={"TTY_COMPATIBLE": ""}
    )
    assert piped.code == 0 and piped.err == ""
    assert json.loads(piped.out)["patients"] == 30


# Shell completion


def test_show_completion_prints_the_named_shells_script(zoo) -> None:
    bash = zoo("--show-completion", "bash")
    assert bash.code == 0
    assert "_ZOO_COMPLETE=complete_bash" in bash.out and "complete -o default -F _zoo_completion zoo" in bash.out
    zsh = zoo("--show-completion", "zsh")
    assert zsh.code == 0 and "#compdef zoo" in zsh.out
    unknown = zoo("--show-completion", "tcsh")
    assert unknown.code == 2 and "tcsh" in unknown.err


def test_install_completion_writes_the_script_into_home(zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    result = zoo("--install-completion", "bash")
    assert result.code == 0, result.err
    script = tmp_path / ".bash_completions" / "zoo.sh"
    assert "_ZOO_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def test_kinds_component_names_and_recipes_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.cli.components import complete_kind, component_names
    from zoo.cli.recipes import complete_recipe, complete_setting

    assert complete_kind("me") == ["metrics"]
    backbones = [spec.name for spec in get_registry().components("backbones")]
    assert component_names("backbones", "") == backbones
    assert component_names("backbones", "thesis") == [n for n in backbones if n.startswith("thesis")]
    assert "thesis_vgg" in component_names("backbones", "thesis")
    assert complete_setting("model.ba") == [f"model.backbone={name}" for name in backbones]
    assert complete_setting("model.backbone=thesis_v") == ["model.backbone=thesis_vgg"]
    assert complete_setting("train.epochs=") == []
    write(tmp_path / "recipes" / "a.yaml", "")
    write(tmp_path / "recipes" / "b.yml", "")
    write(tmp_path / "recipes" / "notes.txt", "")
    write(tmp_path / "recipes" / "thesis" / "c.yaml", "")
    write(tmp_path / "recipes" / ".hidden" / "d.yaml", "")
    monkeypatch.chdir(tmp_path)
    assert complete_recipe("rec") == ["recipes/"]
    assert complete_recipe("recipes/") == ["recipes/a.yaml", "recipes/b.yml", "recipes/thesis/"]
    assert complete_recipe(f"{tmp_path}/recipes/th") == [f"{tmp_path}/recipes/thesis/"]
    assert complete_recipe("nowhere/") == []


def test_the_shells_requests_are_answered_without_torch() -> None:
    bash = run_zoo(env={"_ZOO_COMPLETE": "complete_bash", "COMP_WORDS": "zoo list me", "COMP_CWORD": "2"})
    assert (bash.code, bash.out.split()) == (0, ["metrics"]), bash.err
    code = (
        "import os, sys\n"
        "from zoo.cli import run_cli\n"
        "os.environ.update(_ZOO_COMPLETE='complete_zsh', _TYPER_COMPLETE_ARGS='zoo run --set model.backbone=thesis')\n"
        "assert run_cli([]) == 0\n"
        "heavy = sorted(m for m in ('torch', 'timm', 'pandas') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "model.backbone=thesis_vgg" in done.stdout
