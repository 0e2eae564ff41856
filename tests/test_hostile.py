"""Hostile input, second round: each defect found by fuzzing the CLI, as its repro. Every one is
exit 2 with one `Error:` line (exit 1 for a failure while working), no traceback, no hang and
nothing lost."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import TrainedRun, write
from PIL import Image

from zoo.judging import leaderboard

TINY = """\
name: tiny
data:
  dataset: {name: phantom, params: {patients: 10, visits: 1, size: 32}}
  target: stage
  image_size: 64
model:
  backbone: {name: thesis_vgg, params: {filters: [8, 8, 16, 16, 32, 32]}}
  head: {name: softmax, params: {hidden: [16]}}
loss: cross_entropy
train: {batch_size: 16, stages: [{epochs: 1}]}
eval: {bootstrap: 0}
"""


def one_error(result, code: int = 2) -> str:
    """The `Error:` line of a failed call, after checking the contract: its exit code, no traceback."""
    assert result.code == code, result.err
    assert "Traceback" not in result.err and "unexpected" not in result.err, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.err
    return errors[0]


def crops(folder: Path, count: int) -> list[Path]:
    """`count` small gray images that read well."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 255, (48, 48), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"crop{i}.png")
        made.append(folder / f"crop{i}.png")
    return made


@pytest.fixture
def run(tiny_cdf_run: TrainedRun, tmp_path: Path) -> Path:
    """A copy of a finished tiny run, to damage."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_cdf_run.folder, copy)
    return copy


# 1. an alias bomb in mapping keys


def test_an_alias_bomb_in_mapping_keys_is_refused_at_once(zoo, tmp_path: Path) -> None:
    lines = ["name: x", "? &a0 [x, x, x, x, x, x, x, x, x]", ": 1"]
    for level in range(1, 10):
        lines += [f"? &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]", ": 1"]
    result = zoo("validate", str(write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")))
    assert "10 problems with its keys" in one_error(result)
    assert "bomb.yaml:2: a key must be a name, not a list or a mapping" in result.err


# 2. recipe files that cannot be read


def test_recipe_files_that_cannot_be_read_are_usage_errors(zoo, tmp_path: Path) -> None:
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    assert "Too many levels of symbolic links" in one_error(zoo("validate", str(tmp_path / "loop1")))
    assert "File name too long" in one_error(zoo("validate", str(tmp_path / ("a" * 300 + ".yaml"))))
    for byte, name in ((b"\x00", "nul"), (b"\x1b", "esc")):
        (tmp_path / f"{name}.yaml").write_bytes(b"name: x" + byte + b"\n")
        assert "not a text file: it holds the control character" in one_error(zoo("run", str(tmp_path / f"{name}.yaml")))


# 3. unbounded values pass validate and crash run


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("model.backbone.params.filters=[0, 8]", "model.backbone.params.filters.0"),
        ("model.backbone.params.filters=[-4, 8]", "model.backbone.params.filters.0"),
        ("model.backbone.params.filters=[1000000000000]", "model.backbone.params.filters.0"),
        ("loss={name: focal, params: {gamma: .inf}}", "loss.params.gamma"),
        ("train.batch_size=1000000000000000000000000000000", "train.batch_size"),
        ("data.dataset.params.seed=-1", "data.dataset.params.seed"),
        ("name=" + "n" * 300, "name"),
        ("train.early_stopping={min_delta: .inf}", "train.early_stopping.min_delta"),
    ],
)
def test_unbounded_values_are_refused_by_validate_with_their_place(zoo, tmp_path: Path, override: str, field: str) -> None:
    result = zoo("validate", str(write(tmp_path / "r.yaml", TINY)), "--set", override)
    assert "1 problem in the recipe" in one_error(result)
    assert f": {field}: " in result.err


def test_a_phantom_seed_below_zero_is_refused_by_the_command_too(zoo, tmp_path: Path) -> None:
    assert "--seed" in one_error(zoo("data", "phantom", "--out", str(tmp_path / "p"), "--seed", "-1"))


def test_a_recipe_file_with_a_huge_batch_is_refused_at_its_line(zoo, tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", TINY.replace("batch_size: 16", "batch_size: 1.0e+30"))
    one_error(zoo("validate", str(recipe)))
    assert "r.yaml:10: train.batch_size" in zoo("validate", str(recipe)).err


# 4. SCQM image_pattern format specs


def test_scqm_image_pattern_takes_no_format_spec(zoo, tmp_path: Path) -> None:
    recipe = TINY.replace(
        "{name: phantom, params: {patients: 10, visits: 1, size: 32}}",
        '{name: scqm, params: {csv: s.csv, image_pattern: "{sop_iuid:>400000000}_{joint}.jpg"}}',
    )
    result = zoo("validate", str(write(tmp_path / "r.yaml", recipe)))
    one_error(result)
    assert "image_pattern's placeholders take no format or conversion" in result.err


# 5. a cache folder that is a file


def test_a_cache_folder_that_is_a_file_is_named(zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = write(tmp_path / "r.yaml", TINY)
    blocker = write(tmp_path / "somefile", "not a folder")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(blocker))
    assert f"'{blocker}' is a file, not a folder" in one_error(zoo("data", "check", str(recipe)))
    monkeypatch.delenv("ZOO_CACHE_DIR")
    result = zoo("data", "check", str(recipe), "--set", f"data.dataset.params.cache_dir={blocker}")
    assert f"cannot make the cache folder '{blocker}'" in one_error(result)


# 6. image paths that are not regular files


def _manifest(folder: Path, paths: list[str]) -> Path:
    rows = "".join(f"{path},0,p{i}\n" for i, path in enumerate(paths))
    return write(folder / "m.csv", "path,label,patient_id\n" + rows)


def _manifest_recipe(folder: Path, csv: Path) -> Path:
    dataset = f"{{name: manifest, params: {{csv: {csv}, label_scale: stage}}}}"
    return write(folder / "r.yaml", TINY.replace("{name: phantom, params: {patients: 10, visits: 1, size: 32}}", dataset))


def test_pipes_devices_and_nul_bytes_are_error_rows_not_hangs(zoo, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    ok = crops(tmp_path / "crops", 1)[0]
    manifest = _manifest(tmp_path, [str(ok), str(tmp_path / "pipe.png"), "/dev/zero", "/dev/urandom"])
    signal.alarm(60)  # a hang fails the test instead of the suite
    try:
        result = zoo("data", "check", str(_manifest_recipe(tmp_path, manifest)), "--format", "json")
    finally:
        signal.alarm(0)
    assert result.code == 2
    problems = {row["image"]: row["problem"] for row in json.loads(result.out)["problems"]}
    assert problems == dict.fromkeys(
        [str(tmp_path / "pipe.png"), "/dev/zero", "/dev/urandom"], "not a regular file (a folder, a pipe or a device)"
    )
    (tmp_path / "nul.csv").write_bytes(b"path,label,patient_id\nbad\x00name.png,0,p1\n" + str(ok).encode() + b",0,p2\n")
    nul = zoo("data", "check", str(_manifest_recipe(tmp_path / "nul", tmp_path / "nul.csv")), "--format", "json")
    assert [row["problem"] for row in json.loads(nul.out)["problems"]] == ["not a valid file name"]


def test_predict_lists_a_pipe_a_device_and_a_pipe_named_csv_and_goes_on(zoo, run: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "pipe.csv")
    ok = crops(tmp_path / "crops", 1)[0]
    signal.alarm(60)
    try:
        result = zoo("predict", str(run), str(tmp_path / "pipe.png"), "/dev/zero", str(ok), "--format", "json")
        named_csv = zoo("predict", str(run), str(tmp_path / "pipe.csv"), "--format", "json")
    finally:
        signal.alarm(0)
    assert "2 of 3 inputs could not be scored" in one_error(result)
    status = {row["image"]: row["status"] for row in json.loads(result.out)["joints"]}
    assert status[str(ok)] == "ok" and status["/dev/zero"].startswith("error: not a regular file")
    assert "1 of 1 inputs could not be scored" in one_error(named_csv)


# 7. decompression bombs by shape


def test_images_whose_padded_square_is_too_large_are_refused_one_by_one(zoo, run: Path, tmp_path: Path) -> None:
    Image.new("L", (2_000_000, 1)).save(tmp_path / "wide.png")
    Image.new("L", (60_000, 1)).save(tmp_path / "wide60k.png")
    assert (tmp_path / "wide.png").stat().st_size < 10_000, "a few kB on disk"
    ok = crops(tmp_path / "crops", 1)[0]
    result = zoo("predict", str(run), str(tmp_path / "wide.png"), str(tmp_path / "wide60k.png"), str(ok), "--format", "json")
    assert "2 of 3 inputs could not be scored" in one_error(result)
    status = [row["status"] for row in json.loads(result.out)["joints"]]
    assert status == ["error: image too large (2000000 x 1 pixels)", "error: image too large (60000 x 1 pixels)", "ok"]
    manifest = _manifest(tmp_path, [str(tmp_path / "wide.png"), str(ok)])
    skip = zoo("data", "check", str(_manifest_recipe(tmp_path, manifest)), "--set", "data.on_bad_sample=skip")
    assert skip.code == 2 and "image too large" in skip.out


# 8. float TIFF with NaN pixels


def test_a_float_tiff_of_nan_pixels_is_refused(zoo, run: Path, tmp_path: Path) -> None:
    pixels = np.full((40, 40), np.nan, np.float32)
    Image.fromarray(pixels, mode="F").save(tmp_path / "nan.tif")
    result = zoo("predict", str(run), str(tmp_path / "nan.tif"), "--format", "json")
    one_error(result)
    assert json.loads(result.out)["joints"][0]["status"] == "error: pixels that are not numbers (NaN or infinite)"


# 9. NaN weights


def test_nan_weights_are_refused_by_import_and_by_a_recipe(zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import timm
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in timm.create_model("resnet18", pretrained=False).state_dict().items()}
    state = {k: v.fill_(float("nan")) if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(tmp_path / "nan.safetensors"))
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path / "store"))
    imported = zoo("weights", "import", str(tmp_path / "nan.safetensors"), "--model", "resnet18")
    assert "holds NaN or infinite weights" in one_error(imported)
    assert not (tmp_path / "store" / "resnet18.safetensors").exists(), "nothing was stored"
    recipe = TINY.replace("{name: thesis_vgg, params: {filters: [8, 8, 16, 16, 32, 32]}}", "{name: resnet18, params: {pretrained: nan.safetensors}}")
    validated = zoo("validate", str(write(tmp_path / "r.yaml", recipe)))
    one_error(validated)
    assert "model.backbone.params.pretrained" in validated.err and "holds NaN or infinite weights" in validated.err


# 10. config.json is validated on load


CONFIG_DAMAGE = [
    ("image_size missing", lambda c: c.pop("image_size"), "image_size"),
    ("image_size zero", lambda c: c.update(image_size=0), "image_size"),
    ("image_size negative", lambda c: c.update(image_size=-3), "image_size"),
    ("image_size text", lambda c: c.update(image_size="large"), "image_size"),
    ("image_size huge", lambda c: c.update(image_size=10**6), "image_size"),
    ("unknown target", lambda c: c.update(target="knee"), "target"),
    ("head params", lambda c: c["head"]["params"].update(hidden="many"), "head.params.hidden"),
    ("backbone params", lambda c: c["backbone"]["params"].update(filters=[0]), "backbone.params.filters.0"),
    ("equalize", lambda c: c.update(equalize="magic"), "equalize"),
    ("unknown backbone", lambda c: c["backbone"].update(name="nope"), "backbone.name"),
    ("head of another target", lambda c: c.update(head={"name": "softmax", "params": {}}), "head.name"),
]


@pytest.mark.parametrize(("what", "damage", "field"), CONFIG_DAMAGE, ids=[d[0] for d in CONFIG_DAMAGE])
def test_a_damaged_config_json_is_named_with_its_field(
    zoo, run: Path, tmp_path: Path, what: str, damage, field: str
) -> None:
    config = json.loads((run / "config.json").read_text())
    damage(config)
    (run / "config.json").write_text(json.dumps(config))
    crop = crops(tmp_path / "crops", 1)[0]
    for command in (["predict", str(run), str(crop)], ["export", str(run)], ["analyze", str(run)]):
        error = one_error(zoo(*command))
        assert "config.json' is not a readable model config" in error and f": {field}: " in error, error


# 11. damaged run files


def test_damaged_run_files_are_named_by_analyze_and_resume(zoo, run: Path) -> None:
    metrics = (run / "metrics.json").read_text()
    (run / "metrics.json").write_text("[1, 2]")
    assert "metrics.json' is not readable (not a JSON object" in one_error(zoo("analyze", str(run)))
    (run / "metrics.json").write_text(json.dumps({"splits": {"test": {"n": 1, "patients": 1, "metrics": {"mse": {"value": "low"}}}}}))
    assert "metric 'mse' of split 'test' has no value" in one_error(zoo("analyze", str(run)))
    (run / "metrics.json").write_text(metrics)
    history = (run / "history.csv").read_text()
    (run / "history.csv").unlink()
    assert "history.csv' does not exist" in one_error(zoo("analyze", str(run)))
    (run / "history.csv").write_text("epoch,train_loss\none,two\n")
    assert "history.csv': column epoch holds something other than numbers" in one_error(zoo("analyze", str(run)))
    (run / "history.csv").write_text(history)
    (run / "predictions-test.csv").write_text('"not,a\ncsv')
    assert "predictions-test.csv'" in one_error(zoo("analyze", str(run)))
    (run / "split.csv").unlink()
    assert "split.csv' does not exist" in one_error(zoo("run", "--resume", str(run)))


def test_nan_weights_are_named_by_analyze_predict_and_export(zoo, run: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(str(run / "model.safetensors"))
    save_file({k: v.float().fill_(float("nan")) if v.is_floating_point() else v for k, v in weights.items()}, str(run / "model.safetensors"))
    crop = crops(tmp_path / "crops", 1)[0]
    for command in (["analyze", str(run)], ["predict", str(run), str(crop)], ["export", str(run)]):
        assert "model.safetensors' holds NaN or infinite weights" in one_error(zoo(*command))


# 12. foreign lines in leaderboard.jsonl


def test_foreign_leaderboard_lines_are_skipped_counted_and_never_stop_an_append(zoo, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    store = write(
        runs / "leaderboard.jsonl",
        "\n".join([
            json.dumps({"run_id": ["a", "list"], "split": "test", "target": "stage", "metrics": {}}),
            "[" * 100_000 + "]" * 100_000,
            json.dumps({"run_id": "typed", "split": "test", "target": "stage", "metrics": {}, "n": "many"}),
            json.dumps({"run_id": 7, "split": "test", "target": "stage", "metrics": {}}),
            json.dumps({"run_id": "m", "split": "test", "target": "stage", "metrics": "high"}),
            json.dumps({"run_id": "nan", "split": "test", "target": "stage", "recipe": "r", "n": 3,
                        "metrics": {"class_normalised_accuracy": {"value": float("nan")}, "accuracy": {"value": 1e400}}}),
        ]) + "\n",
    )  # fmt: skip
    shown = zoo("leaderboard", "--runs-dir", str(runs), "--format", "json")
    assert shown.code == 0 and "5 line(s) of" in shown.err and "they are skipped" in shown.err
    rows = [row for group in json.loads(shown.out) for row in group["rows"]]
    assert [(row["run_id"], row["metrics"]) for row in rows] == [("nan", {})], "NaN and infinity are never ranked"
    trained = zoo("run", str(write(tmp_path / "r.yaml", TINY)), "--runs-dir", str(runs), "--format", "json")
    assert trained.code == 0, trained.err
    evaluated = set(json.loads(trained.out)[0]["splits"])
    assert evaluated and {row["split"] for row in leaderboard.read(store) if row["run_id"].startswith("tiny-")} == evaluated


def test_a_runs_dir_that_is_a_file_or_a_store_that_is_a_folder_is_an_error(zoo, tmp_path: Path) -> None:
    assert "is a file, not a folder" in one_error(zoo("leaderboard", "--runs-dir", str(write(tmp_path / "f", "x"))))
    (tmp_path / "runs" / "leaderboard.jsonl").mkdir(parents=True)
    assert "is not a file (a folder?)" in one_error(zoo("leaderboard", "--runs-dir", str(tmp_path / "runs")))


# 13. predict's visits


def test_a_joint_without_a_date_or_listed_twice_is_said_and_counted_once(zoo, run: Path, tmp_path: Path) -> None:
    images = crops(tmp_path / "crops", 4)
    rows = [f"{images[0]},P1,mcp2,2020-01-01", f"{images[1]},P1,mcp3,2020-01-01", f"{images[2]},P1,pip2,"]
    rows += [f"{images[3]},P1,mcp2,2020-01-01"] * 3
    manifest = write(tmp_path / "m.csv", "path,patient_id,joint,date\n" + "\n".join(rows) + "\n")
    result = zoo("predict", str(run), str(manifest), "--format", "json")
    assert result.code == 0, result.err
    assert "1 scored joint(s) have no patient id or no date: they are in no visit's Rau score" in result.err
    assert "3 joint row(s) repeat a joint already listed for the same visit" in result.err
    visits = json.loads(result.out)["visits"]
    assert [(v["date"], v["joints_scored"]) for v in visits] == [("2020-01-01", 2)]


# 14. CSV formula injection


def test_text_cells_that_start_a_formula_are_neutralised_in_csv_for_people(zoo, run: Path, tmp_path: Path) -> None:
    crop = crops(tmp_path / "crops", 1)[0]
    manifest = write(tmp_path / "m.csv", f"path,patient_id,joint\n{crop},=cmd|x!A0,mcp2\n{crop},-3,mcp3\n{crop},@sum,mcp4\n")
    printed = zoo("predict", str(run), str(manifest), "--format", "csv")
    assert printed.code == 0, printed.err
    assert ",'=cmd|x!A0,mcp2," in printed.out and ",'@sum,mcp4," in printed.out
    assert ",-3,mcp3," in printed.out, "a number is never changed"
    assert zoo("predict", str(run), str(manifest), "--out", str(tmp_path / "p.csv")).code == 0
    written = (tmp_path / "p.csv").read_text()
    assert "'=cmd|x!A0" in written and ",-3," in written
    store = write(tmp_path / "runs" / "leaderboard.jsonl", json.dumps(
        {"run_id": "=HYPERLINK(\"x\")", "split": "test", "target": "stage", "recipe": "+r", "metrics": {}}
    ) + "\n")  # fmt: skip
    board = zoo("leaderboard", "--runs-dir", str(store.parent), "--format", "csv")
    assert board.code == 0 and "'=HYPERLINK" in board.out and "'+r" in board.out


# 15. the weights store's index names no path outside it


def test_a_weights_index_naming_a_file_outside_the_store_is_refused(zoo, tmp_path: Path, monkeypatch) -> None:
    entry = {"file": "../../etc/passwd", "sha256": "0", "source": "s", "licence": "l"}
    write(tmp_path / "store" / "index.json", json.dumps({"models": {"resnet18": entry}}))
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path / "store"))
    assert "names a file outside the store for 'resnet18'" in one_error(zoo("weights", "list"))


# 16. a plugin's factory that breaks the documented signature


def test_a_factory_with_the_wrong_signature_is_blamed_on_its_plugin() -> None:
    from zoo.compose.params import NoParams
    from zoo.compose.registry import ComponentSpec
    from zoo.errors import ZooError

    def build(params: object, in_chans: int, **extra: object) -> object:
        return build(params, in_chans, in_chans=in_chans)  # "got multiple values for 'in_chans'"

    wrong = ComponentSpec("backbones", "odd", lambda params: None, NoParams, "", "someone")
    with pytest.raises(ZooError, match=r"backbone 'odd' of plugin 'someone' does not take the documented arguments"):
        wrong.build(None, in_chans=1)
    failing = ComponentSpec("backbones", "bad", build, NoParams, "", "someone")
    with pytest.raises(ZooError, match=r"backbone 'bad' of plugin 'someone' failed to build \(TypeError: .*in_chans"):
        failing.build(None, in_chans=1)


# 17. smaller ones


def test_a_manifest_with_a_column_twice_is_refused(zoo, tmp_path: Path) -> None:
    crop = crops(tmp_path / "crops", 1)[0]
    csv = write(tmp_path / "m.csv", f"path,label,patient_id,label\n{crop},1,p1,3\n")
    result = zoo("data", "check", str(_manifest_recipe(tmp_path, csv)))
    assert "has the column 'label' more than once" in one_error(result)


def test_a_patient_id_nobody_can_see_is_missing(zoo, tmp_path: Path) -> None:
    images = crops(tmp_path / "crops", 2)
    csv = write(tmp_path / "m.csv", f"path,label,patient_id\n{images[0]},1,\u200b\n{images[1]},1,p2\n")
    result = zoo("data", "check", str(_manifest_recipe(tmp_path, csv)), "--format", "json")
    assert [row["problem"] for row in json.loads(result.out)["problems"]] == ["patient id missing"]


def test_a_full_disk_says_free_space_then_resume(zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.training import checkpoint

    written = []

    def full(*args: object, **kwargs: object) -> None:
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(True)  # the first checkpoint, before training, fits

    monkeypatch.setattr(checkpoint, "save_checkpoint", full)
    result = zoo("run", str(write(tmp_path / "r.yaml", TINY.replace("epochs: 1", "epochs: 2"))), "--runs-dir", str(tmp_path / "runs"))
    error = one_error(result, code=1)
    assert "the disk is full" in error
    assert "free some space, then 'zoo run --resume " in result.err and "report" not in result.err
