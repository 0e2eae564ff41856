"""The CLI contract: exit codes, one-line errors with a hint, tables or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, run_zoo, write

from zoo import __version__

QUICKSTART = str(ROOT / "recipes" / "quickstart.yaml")


def test_version(zoo) -> None:
    result = zoo("--version")
    assert (result.code, result.out.strip()) == (0, f"zoo {__version__}")


def test_help_lists_the_commands(zoo) -> None:
    result = zoo("--help")
    assert result.code == 0
    for command in (
        "list",
        "plugins",
        "validate",
        "run",
        "evaluate",
        "leaderboard",
        "predict",
        "analyze",
        "export",
        "data",
    ):
        assert command in result.out


def test_list_shows_every_builtin_with_its_plugin(zoo) -> None:
    result = zoo("list", "--json")
    assert result.code == 0
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.out)}
    expected = {
        "backbones": ["thesis_vgg", "inception_v3", "resnet18", "resnet34", "resnet50"],
        "heads": ["softmax", "cdf"],
        "losses": ["cross_entropy", "crps"],
        "imbalance": ["none", "oversample", "class_weights"],
        "datasets": ["scqm", "manifest"],
        "trackers": ["mlflow"],
    }
    for kind, names in expected.items():
        for name in names:
            assert rows[(kind, name)]["plugin"] == kind
            assert rows[(kind, name)]["description"]
    assert rows[("datasets", "phantom")]["plugin"] == "phantom", "the phantom is a plugin of its own"
    assert rows[("backbones", "thesis_vgg")]["params"]["properties"]["filters"]["default"] == [
        32,
        32,
        64,
        64,
        128,
        128,
    ]
    table = zoo("list")
    assert table.code == 0 and "thesis_vgg" in table.out and "class_weights" in table.out


def test_list_one_kind_shows_params(zoo) -> None:
    result = zoo("list", "heads")
    assert result.code == 0
    assert "softmax" in result.out and "dropout=0.5" in result.out
    assert "thesis_vgg" not in result.out


def test_list_unknown_kind(zoo) -> None:
    result = zoo("list", "backbone")
    assert result.code == 2
    assert result.err.splitlines() == [
        "Error: unknown kind 'backbone'; did you mean 'backbones'?",
        "Hint: kinds: backbones, heads, losses, imbalance, datasets, metrics, trackers, models",
    ]


def test_plugins_json(zoo) -> None:
    result = zoo("plugins", "--json")
    assert result.code == 0
    heads = next(p for p in json.loads(result.out) if p["name"] == "heads")
    assert heads["builtin"] and heads["hooks"] == ["zoo_register_heads"] and heads["error"] is None


def test_validate_ok_and_bad(zoo, tmp_path: Path) -> None:
    ok = zoo("validate", QUICKSTART)
    assert ok.code == 0 and "ok:" in ok.out
    bad = write(tmp_path / "bad.yaml", "name: bad\nsed: 1\n")
    result = zoo("validate", QUICKSTART, str(bad))
    assert result.code == 2
    assert "ok:" in result.out, "the good recipe is still reported"
    lines = result.err.splitlines()
    assert lines[:4] == [
        f"{bad}:1: data: required field is missing",
        f"{bad}:1: loss: required field is missing",
        f"{bad}:1: model: required field is missing",
        f"{bad}:2: sed: unknown field; did you mean 'seed'? (fields: name, description, seed, data, model, loss, imbalance, train, eval, track, extra_targets)",
    ]
    assert lines[-2] == f"Error: {bad}: 4 problems in the recipe"
    assert lines[-1].startswith("Hint: ")


def test_run_dry_run_prints_the_resolved_recipe(zoo) -> None:
    result = zoo("run", QUICKSTART, "--dry-run", "--set", "train.batch_size=8")
    assert result.code == 0
    assert "batch_size: 8" in result.out
    assert "drop_rate: 0.0" in result.out, "defaults of the components are filled in"


def test_bad_input_exits_2_without_traceback(tmp_path: Path) -> None:
    cases = [
        ["validate", str(tmp_path / "missing.yaml")],
        ["validate", str(write(tmp_path / "empty.yaml", ""))],
        ["validate", str(write(tmp_path / "bad.yaml", "name: [\n"))],
        ["run", QUICKSTART, "--dry-run", "--set", "nokey"],
        ["list", "--bogus"],
        ["nosuchcommand"],
    ]
    for args in cases:
        result = run_zoo(*args)
        assert result.code == 2, (args, result.err)
        assert "Traceback" not in result.err
        assert "Error: " in result.err and "Hint: " in result.err, (args, result.err)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run_zoo("validate", str(tmp_path / "missing.yaml"), env={"ZOO_DEBUG": "1"})
    assert result.code == 2
    assert "Traceback" in result.err


def test_output_paths_are_checked_before_any_work(zoo, tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    run = zoo("run", QUICKSTART, "--runs-dir", str(a_file))
    assert run.code == 2 and "--runs-dir" in run.err and "is a file, not a folder" in run.err
    for command in (["predict", str(tmp_path), str(tmp_path)], ["export", str(tmp_path)]):
        result = zoo(*command, "--out", str(tmp_path))
        assert result.code == 2 and "is a folder" in result.err, command
    analyze = zoo("analyze", str(tmp_path), "--out", str(a_file))
    assert analyze.code == 2 and "is a file, not a folder" in analyze.err
    under_a_file = zoo("predict", str(tmp_path), str(tmp_path), "--out", str(a_file / "x.csv"))
    assert under_a_file.code == 2 and "--out: cannot make folder" in under_a_file.err


def test_library_warnings_stay_off_the_terminal_unless_debugging() -> None:
    import os
    import subprocess
    import sys

    script = (
        "import sys, warnings\n"
        "from zoo.cli import app, run_cli\n"
        "app.command('noisy')(lambda: warnings.warn(\"a library's internal remark\", UserWarning, stacklevel=1))\n"
        "sys.exit(run_cli(['noisy']))\n"
    )

    def stderr(debug: str) -> str:
        env = {**os.environ, "ZOO_DEBUG": debug}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        return done.stderr

    assert "internal remark" not in stderr("0")
    assert "internal remark" in stderr("1")


def test_ctrl_c_outside_training_is_one_line_and_exit_130(monkeypatch) -> None:
    import zoo.cli

    def interrupted(**kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo.cli, "app", interrupted)
    assert zoo.cli.run_cli(["list"]) == 130
