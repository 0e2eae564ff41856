"""Recipes: structure, components, cross-checks, overrides; every error located and reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, write

from zoo.compose.plugins import get_registry
from zoo.compose.recipe import load_recipe, validate_document
from zoo.compose.yaml_lines import load_yaml
from zoo.errors import ProblemsError, UsageError

GOOD = """\
name: good
data:
  dataset: {name: phantom, params: {patients: 20}}
  target: stage
  image_size: 64
model:
  backbone: {name: thesis_vgg}
  head: {name: softmax}
loss: {name: cross_entropy}
"""

RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))


def problems_of(text: str, overrides: list[str] | None = None, source: str = "r.yaml") -> list[str]:
    with pytest.raises(ProblemsError) as info:
        validate_document(load_yaml(text, source), get_registry(), overrides)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_recipe_validates(path: Path) -> None:
    recipe = load_recipe(path, get_registry())
    assert recipe.name


def test_resolved_recipe_fills_every_default() -> None:
    recipe = validate_document(load_yaml(GOOD, "r.yaml"), get_registry())
    assert recipe.model.backbone.params["filters"] == [32, 32, 64, 64, 128, 128]
    assert recipe.model.head.params == {"hidden": [512, 256], "dropout": 0.5}
    assert recipe.train.optimizer.lr == 0.001 and recipe.train.batch_size == 100
    assert recipe.data.split.train == 0.7
    assert len(recipe.digest()) == 16


def test_component_given_as_a_bare_string() -> None:
    text = GOOD.replace("loss: {name: cross_entropy}", "loss: cross_entropy")
    assert validate_document(load_yaml(text, "r.yaml"), get_registry()).loss.name == "cross_entropy"


def test_malformed_yaml_names_file_and_line() -> None:
    with pytest.raises(UsageError, match=r"r\.yaml:4: malformed YAML: .*flow sequence that starts at line 3"):
        load_yaml("name: x\ndata:\n  bad: [1, 2\nmodel: {}\n", "r.yaml")


def test_duplicate_keys_are_errors_not_silently_dropped() -> None:
    with pytest.raises(ProblemsError) as info:
        load_yaml("name: a\nseed: 1\nseed: 2\n", "r.yaml")
    assert [str(p) for p in info.value.problems] == ["r.yaml:3: seed: duplicate key (first at line 2)"]


def test_unknown_top_level_key_with_suggestion() -> None:
    found = problems_of(GOOD + "trian: {batch_size: 4}\n")
    assert len(found) == 1
    assert found[0].startswith("r.yaml:10: trian: unknown field; did you mean 'train'?")


def test_unknown_component_name_suggests() -> None:
    found = problems_of(GOOD.replace("thesis_vgg", "thesis_vg"))
    assert found == [
        "r.yaml:7: model.backbone.name: unknown backbone 'thesis_vg'; did you mean 'thesis_vgg'? "
        "(known backbones: feature_pyramid, inception_v3, resnet18, resnet34, resnet50, tf_efficientnet_lite0, "
        "tf_efficientnet_lite1, tf_efficientnet_lite2, thesis_vgg, timm; "
        "loaded plugins: backbones, datasets, heads, imbalance, losses, metrics, models, phantom, realism, trackers "
        "(see 'zoo plugins'))"
    ]


def test_param_of_wrong_type_names_component_and_field() -> None:
    found = problems_of(GOOD.replace("patients: 20", "patients: many"))
    assert len(found) == 1
    assert found[0].startswith(
        "r.yaml:3: data.dataset.params.patients: dataset 'phantom': Input should be a valid integer"
    )


def test_param_unknown_to_component_names_component_and_field() -> None:
    found = problems_of(GOOD.replace("{name: thesis_vgg}", "{name: thesis_vgg, params: {filtres: [8]}}"))
    assert found == [
        "r.yaml:7: model.backbone.params.filtres: backbone 'thesis_vgg': unknown field; did you "
        "mean 'filters'? (fields: filters, convs_per_block, pool_grid)"
    ]


def test_all_problems_reported_at_once_in_line_order() -> None:
    text = GOOD.replace("patients: 20", "patients: -3").replace("image_size: 64", "image_size: 1")
    text = text.replace("{name: softmax}", "{name: softmx}") + "train: {batch_size: 0}\n"
    found = problems_of(text)
    assert [p.split(":")[1] for p in found] == ["3", "5", "8", "10"]


def test_target_and_head_must_agree() -> None:
    found = problems_of(GOOD.replace("target: stage", "target: percent"))
    assert any("head 'softmax' does not support target 'percent' (it supports: binary, stage, svdh_erosion, svdh_jsn)" in p for p in found)


def test_loss_needs_what_the_head_provides() -> None:
    found = problems_of(GOOD.replace("loss: {name: cross_entropy}", "loss: {name: crps}"))
    assert found == ["r.yaml:9: loss.name: loss 'crps' needs a component that provides 'cdf' (provided by: head 'cdf')"]


def test_registered_check_runs_after_components() -> None:
    found = problems_of(GOOD.replace("image_size: 64", "image_size: 32"))
    assert found == ["r.yaml:5: data.image_size: backbone 'thesis_vgg' with 6 blocks needs images of at least 64 px"]
    inception = problems_of(GOOD.replace("thesis_vgg", "inception_v3"))
    assert inception == ["r.yaml:5: data.image_size: backbone 'inception_v3' needs images of at least 75 px"]


def test_overrides_are_typed_and_create_missing_sections() -> None:
    recipe = validate_document(
        load_yaml(GOOD, "r.yaml"),
        get_registry(),
        [
            "train.batch_size=8",
            "model.head.params.hidden=[16]",
            "data.augment.rotation=10",
            "seed=7",
        ],
    )
    assert recipe.train.batch_size == 8 and recipe.seed == 7
    assert recipe.model.head.params["hidden"] == [16]
    assert recipe.data.augment is not None and recipe.data.augment.rotation == 10


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trian.epochs=3", "--set trian.epochs=3: trian: unknown field; did you mean 'train'?"),
        (
            "data.target.x=1",
            "--set data.target.x=1: data.target.x: 'data.target' is a single value (str), it has no field 'x'",
        ),
        (
            "train.stages.5.epochs=1",
            "--set train.stages.5.epochs=1: train.stages.5.epochs: 'train.stages' is a list of 1; '5' is not an index in it",
        ),
        ("seed", "--set seed: expected KEY=VALUE with a dotted key"),
        ("a..b=1", "--set a..b=1: expected KEY=VALUE with a dotted key"),
        (
            "train.batch_size=lots",
            "--set train.batch_size=lots: train.batch_size: Input should be a valid integer",
        ),
    ],
)
def test_bad_override_paths(override: str, expected: str) -> None:
    text = GOOD + "train: {stages: [{epochs: 1}]}\n"
    found = problems_of(text, [override])
    assert found[0].startswith(expected), found


def test_missing_file_and_empty_recipe(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml", get_registry())
    with pytest.raises(UsageError, match="the recipe is empty"):
        load_recipe(write(tmp_path / "empty.yaml", "# nothing\n"), get_registry())
    with pytest.raises(UsageError, match="must be a mapping"):
        load_recipe(write(tmp_path / "list.yaml", "- a\n- b\n"), get_registry())
    with pytest.raises(UsageError, match="is a folder"):
        load_recipe(tmp_path, get_registry())


def test_an_alias_bomb_is_refused_quickly(zoo, tmp_path: Path) -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    result = zoo("validate", str(bomb))
    assert result.code == 2
    assert "expands to more than 10,000 values" in result.err


def test_only_regular_files_of_sensible_size_are_read(zoo, tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert "not a regular file" in zoo("validate", str(fifo)).err
    assert "not a regular file" in zoo("validate", "/dev/zero").err
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 * 1024 * 1024) + "\n")
    result = zoo("validate", str(big))
    assert result.code == 2 and "larger than 1024 KiB" in result.err


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("model.head.params.hidden=[0]", "model.head.params.hidden.0"),
        ("model.head.params.hidden=[-1]", "model.head.params.hidden.0"),
        ("model.head.params.hidden=[100000000]", "model.head.params.hidden.0"),
        ("seed=-1", "seed"),
        ("seed=1e23", "seed"),
        ("train.num_workers=10000", "train.num_workers"),
        ("train.optimizer.lr=.inf", "train.optimizer.lr"),
        ("eval.splits=[]", "eval.splits"),
    ],
)
def test_out_of_range_values_are_recipe_errors(override: str, field: str) -> None:
    found = problems_of(GOOD, [override])
    assert any(f": {field}: " in problem for problem in found), found


def test_scqm_image_pattern_with_unknown_placeholders_is_a_recipe_error() -> None:
    scqm = "{name: scqm, params: {csv: a.csv, image_pattern: '{sop}_{joint}.png'}}"
    found = problems_of(GOOD.replace("{name: phantom, params: {patients: 20}}", scqm))
    assert any("image_pattern knows only {sop_iuid} and {joint}, not {sop}" in p for p in found), found


def test_paths_in_a_recipe_resolve_against_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "project" / "recipes"
    folder.mkdir(parents=True)
    text = GOOD.replace("{name: phantom, params: {patients: 20}}", "{name: manifest, params: {csv: ../data/labels.csv}}")
    (folder / "r.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(folder / "r.yaml", get_registry())
    assert recipe.data.dataset.params["csv"] == str((tmp_path / "project" / "data" / "labels.csv").resolve())
    given = load_recipe(folder / "r.yaml", get_registry(), ["data.dataset.params.csv=mine.csv"])
    assert given.data.dataset.params["csv"] == str((tmp_path / "mine.csv").resolve()), "--set: the working directory"


def test_optional_path_params_resolve_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "w.safetensors").write_bytes(b"")
    text = GOOD.replace("{name: thesis_vgg}", "{name: resnet18, params: {pretrained: w.safetensors}}")
    (folder / "r.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(folder / "r.yaml", get_registry())
    assert recipe.model.backbone.params["pretrained"] == str((folder / "w.safetensors").resolve())


def test_an_alias_that_contains_itself_is_refused(zoo, tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text("a: &x [*x]\n")
    result = zoo("validate", str(tmp_path / "loop.yaml"))
    assert result.code == 2 and "refers to itself" in result.err
