"""Property-based tests of every parser of a user's files: whatever the input, the result is a value
or a `ZooError` (the CLI's one-line error, exit 2 for bad input), never another exception, and it
comes in bounded time (hypothesis's deadline) and memory (`bounded`).

The inputs are drawn by Hypothesis: recipes and `--set` overrides, manifest and SCQM CSVs,
joint tables, predictions CSVs, config.json, leaderboard.jsonl and the weights store's
index.json. `make test` runs each property on a few dozen inputs (the `default` profile);
`HYPOTHESIS_PROFILE=long` runs thousands, for a nightly job.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.compose.plugins import get_registry
from zoo.errors import ZooError

settings.register_profile(
    "default", max_examples=25, deadline=3000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("long", max_examples=2000, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

MEMORY = 64 * 2**20  # bytes a parser may allocate for one of these small inputs


def bounded(call: Callable[[], object]) -> object:
    """Run a parser: a value or a `ZooError` is the contract, in at most `MEMORY` of allocations."""
    tracemalloc.start()
    try:
        return call()
    except ZooError as error:
        assert error.message and "\n" not in error.message, "one line"
        return error
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < MEMORY, f"a small input took {peak / 2**20:.0f} MiB"


@contextmanager
def folder() -> Iterator[Path]:
    """A fresh folder for one example (hypothesis runs many examples in one test)."""
    path = Path(tempfile.mkdtemp(prefix="zoo-property-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the pieces inputs are made of ----------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
WORDS = st.sampled_from([
    "", "0", "1", "-1", "1e400", "nan", "inf", "3.5", "yes", "null", "~", "[]", "{}", "&a", "*a", "'", '"', "\\",
    "phantom", "manifest", "scqm", "thesis_vgg", "softmax", "cdf", "crps", "cross_entropy", "stage", "percent",
    "binary", "train", "val", "test", "=cmd|x!A0", "\u200b", "../../etc/passwd", "a" * 300,
])  # fmt: skip
CELL = st.one_of(WORDS, TEXT, st.integers(-(10**12), 10**12).map(str), st.floats().map(str))


def json_values(leaves: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    """Any JSON value (nested a few levels)."""
    leaf = leaves or st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT, WORDS)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(TEXT, WORDS), inner, max_size=4)),
        max_leaves=12,
    )


def csv_text(columns: list[str]) -> st.SearchStrategy[str]:
    """CSV text whose header mixes the expected columns with others, in any order, and rows of
    any cells (quotes, commas and newlines included)."""
    header = st.lists(st.one_of(st.sampled_from(columns), WORDS), min_size=0, max_size=len(columns) + 2)

    def table(names: list[str]) -> st.SearchStrategy[str]:
        row = st.lists(CELL, min_size=0, max_size=len(names) + 1)
        return st.lists(row, max_size=5).map(
            lambda rows: "\n".join(",".join(_quoted(c) for c in r) for r in [names, *rows]) + "\n"
        )

    return st.one_of(header.flatmap(table), TEXT)


def _quoted(cell: str) -> str:
    return f'"{cell}"' if any(c in cell for c in ',\n"') and '"' not in cell[1:-1] else cell


# -- recipes and --set ------------------------------------------------------------------------------

RECIPE_KEYS = ["name", "seed", "data", "dataset", "params", "target", "model", "backbone", "head", "loss",
               "imbalance", "train", "stages", "epochs", "batch_size", "eval", "track", "image_size", "split"]  # fmt: skip
YAML_SCALARS = st.one_of(WORDS, st.integers(-(10**6), 10**30).map(str), st.sampled_from(["*a", "&a x", "!!binary x"]))


def yaml_text() -> st.SearchStrategy[str]:
    """YAML-like text: nested mappings of recipe keys (and others), lists, anchors, aliases, junk."""
    value = st.recursive(
        YAML_SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
            st.dictionaries(st.sampled_from(RECIPE_KEYS), inner, max_size=3).map(
                lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
            ),
        ),
        max_leaves=10,
    )
    line = st.tuples(st.one_of(st.sampled_from(RECIPE_KEYS), TEXT), value).map(lambda kv: f"{kv[0]}: {kv[1]}")
    return st.one_of(st.lists(line, max_size=8).map("\n".join), TEXT)


@given(text=yaml_text(), overrides=st.lists(st.one_of(TEXT, st.tuples(st.sampled_from(RECIPE_KEYS), CELL).map("=".join)), max_size=3))
def test_any_recipe_text_and_overrides_give_a_recipe_or_a_zoo_error(text: str, overrides: list[str]) -> None:
    from zoo.compose.recipe import validate_document
    from zoo.compose.yaml_lines import load_yaml

    registry = get_registry()
    bounded(lambda: validate_document(load_yaml(text, "r.yaml"), registry, overrides))


# -- datasets' CSVs -----------------------------------------------------------------------------------


@given(text=csv_text(["path", "label", "patient_id", "id", "joint", "date", "split"]), scale=st.sampled_from(["percent", "stage", "binary"]))
def test_any_manifest_gives_samples_or_a_zoo_error(text: str, scale: str) -> None:
    with folder() as where:
        (where / "m.csv").write_text(text, encoding="utf-8")
        spec = get_registry().get("datasets", "manifest")
        table = bounded(lambda: spec.build({"csv": str(where / "m.csv"), "label_scale": scale}))
        if not isinstance(table, ZooError):
            from zoo.data.prepare import label_scale

            bounded(lambda: label_scale(table, "manifest", scale))


SCQM_COLUMNS = ["id_x", "patient_id", "date_x", "sop_iuid", "hand_left_mcp2", "hand_left_pip3", "rau_score"]


@given(text=csv_text(SCQM_COLUMNS), secondary=st.one_of(st.none(), csv_text(["patient_id", "date", "das28"])))
def test_any_scqm_export_gives_samples_or_a_zoo_error(text: str, secondary: str | None) -> None:
    with folder() as where:
        (where / "main.csv").write_text(text, encoding="utf-8")
        params: dict[str, object] = {"csv": str(where / "main.csv"), "joints": ["mcp2", "pip3"]}
        if secondary is not None:
            (where / "activity.csv").write_text(secondary, encoding="utf-8")
            params["secondary_csv"] = str(where / "activity.csv")
        bounded(lambda: get_registry().get("datasets", "scqm").build(params))


# -- tables the CLI reads -------------------------------------------------------------------------------


@given(text=csv_text(["image", "joint", "x", "y", "side", "patient_id"]))
def test_any_joint_table_gives_joints_or_a_zoo_error(text: str) -> None:
    from zoo.data.crop import read_joints

    with folder() as where:
        (where / "joints.csv").write_text(text, encoding="utf-8")
        bounded(lambda: read_joints(where / "joints.csv"))


PREDICTION_COLUMNS = ["sample_id", "patient_id", "y_true", "y_pred", "p_0", "p_1", "p_5", "cdf_0", "cdf_100"]


@given(text=csv_text(PREDICTION_COLUMNS), target=st.sampled_from(["percent", "stage", "binary"]))
def test_any_predictions_csv_gives_predictions_or_a_zoo_error(text: str, target: str) -> None:
    from zoo.predictions import read_predictions

    with folder() as where:
        (where / "p.csv").write_text(text, encoding="utf-8")
        bounded(lambda: read_predictions(where / "p.csv", target))


# -- JSON files ---------------------------------------------------------------------------------------------

VALID_CONFIG = {
    "target": "stage", "image_size": 64, "equalize": "none", "in_chans": 1,
    "backbone": {"name": "thesis_vgg", "params": {"filters": [8, 8, 16, 16, 32, 32]}},
    "head": {"name": "softmax", "params": {"hidden": [16], "dropout": 0.5}},
}  # fmt: skip


def damaged_configs() -> st.SearchStrategy[Any]:
    """A valid config.json with one field replaced by any JSON value, or any JSON at all."""
    key = st.sampled_from([*VALID_CONFIG, "threshold", "backbone.params", "head.params", "backbone.name"])

    def damage(pair: tuple[str, Any]) -> Any:
        field, value = pair
        config = json.loads(json.dumps(VALID_CONFIG))
        part, _, inner = field.partition(".")
        if inner:
            config[part][inner] = value
        else:
            config[part] = value
        return config

    return st.one_of(st.tuples(key, json_values()).map(damage), json_values())


@given(config=damaged_configs())
def test_any_config_json_gives_a_model_config_or_a_zoo_error(config: Any) -> None:
    from zoo.compose.model_config import read_model_config

    with folder() as where:
        (where / "config.json").write_text(json.dumps(config))
        bounded(lambda: read_model_config(where / "config.json", get_registry()))


ROW = {"run_id": "r", "split": "test", "target": "stage", "recipe": "x", "n": 3,
       "metrics": {"accuracy": {"value": 0.5, "higher_is_better": True, "bootstrap_95": [0.4, 0.6]}}}  # fmt: skip


@given(lines=st.lists(st.one_of(json_values().map(json.dumps), TEXT, st.just("[" * 5000 + "]" * 5000)), max_size=6))
def test_any_leaderboard_lines_are_read_and_never_stop_an_append(lines: list[str]) -> None:
    from zoo.judging import leaderboard

    with folder() as where:
        store = where / "leaderboard.jsonl"
        store.write_text("\n".join(lines) + "\n", encoding="utf-8")
        read = bounded(lambda: leaderboard.read_counting(store))
        assert not isinstance(read, ZooError), "a store of any lines is read"
        rows, skipped = read
        assert len(rows) + skipped == len([line for line in "\n".join(lines).split("\n") if line.strip()])
        assert leaderboard.append(store, [dict(ROW)]) in (0, 1)  # type: ignore[list-item]
        assert any(row["run_id"] == "r" for row in leaderboard.read(store)), "a row is always appended"


@given(index=st.one_of(json_values(), st.dictionaries(st.just("models"), json_values(), min_size=1)))
def test_any_weights_index_gives_entries_or_a_zoo_error(index: Any) -> None:
    from zoo_plugins.backbones import weights

    with folder() as where:
        (where / "index.json").write_text(json.dumps(index))
        entries = bounded(lambda: weights.read_index(where))
        if isinstance(entries, dict):
            assert all((where / entry["file"]).resolve().parent == where.resolve() for entry in entries.values())


@pytest.mark.parametrize("name", [*string.punctuation])
def test_a_weights_index_entry_may_name_only_a_file_of_the_store(name: str) -> None:
    """The store refuses every file name that is not plainly one of its own."""
    from zoo_plugins.backbones import weights

    with folder() as where:
        entry = {"file": f"..{name}x", "sha256": "0", "source": "s", "licence": "l"}
        (where / "index.json").write_text(json.dumps({"models": {"m": entry}}))
        result = bounded(lambda: weights.read_index(where))
        if isinstance(result, dict):
            assert (where / result["m"]["file"]).resolve().parent == where.resolve()
