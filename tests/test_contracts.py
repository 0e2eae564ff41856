"""Every built-in component keeps the contract of its kind (zoo.protocols), and the core names
no concrete component: it knows kinds, the target table and the protocols, nothing more."""

from __future__ import annotations

import ast
import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest
import torch

from tests.test_datasets import scqm_export
from tests.test_landmarks import synthetic_landmarks
from zoo.compose.plugins import get_registry
from zoo.compose.recipe import Target
from zoo.predictions import Predictions
from zoo.protocols import DATASET_COLUMNS, EpochDraw, EpochSampler, Head, ImbalanceStrategy, Loss, Metric
from zoo.targets import SCALES, TARGETS

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = {ep.name for ep in entry_points(group="zoo") if ep.value.startswith("zoo_plugins")}
# Words that name a built-in component but are also the core's own vocabulary: English ("none"),
# the prediction tag `cdf` that heads, losses and metrics share, the operating-point rules of
# zoo.judging.thresholds (sensitivity, specificity), prose ("kNN accuracy"), and a package whose
# version env.json records.
SHARED_WORDS = {"none", "cdf", "sensitivity", "specificity", "accuracy", "timm"}


def built_in(kind: str) -> list:
    return [spec for spec in get_registry().components(kind) if spec.plugin in BUILT_IN]


def test_the_recipe_targets_are_the_target_table() -> None:
    assert set(get_args(Target)) == set(TARGETS) == set(SCALES)
    for target in TARGETS.values():
        assert set(target.reachable) <= set(TARGETS) and target.name in target.reachable
        assert target.classes is None or len(target.probability_columns) == target.classes


def build_head(spec, target: str, width: int):
    """A head for `target`, with the context its target needs (the points of a landmarks head)."""
    context = {"landmarks": ["a", "b"]} if TARGETS[target].points else {}
    return spec.build(None, in_features=width, target=target, **context)


def features_for(spec, count: int, width: int) -> torch.Tensor:
    """What a backbone hands the head: vectors, or a feature map where the head requires one."""
    return torch.randn(count, width, 8, 8) if "feature_map" in spec.requires else torch.randn(count, width)


@pytest.mark.parametrize("spec", built_in("heads"), ids=lambda s: s.name)
def test_heads_declare_their_target_and_outputs(spec) -> None:
    for target in sorted(spec.targets or TARGETS):
        head = build_head(spec, target, 16).eval()
        assert isinstance(head, Head) and head.target == target
        features = features_for(spec, 3, 16)
        outputs = head(features)
        predicted = head.predict(outputs)
        assert set(predicted) == head.outputs and "pred" in head.outputs
        assert all(value.shape[0] == 3 for value in predicted.values())
        assert head.embed(features).shape[0] == 3 and head.severity(outputs).shape == (3,)
        classes = TARGETS[target].classes
        if "probs" in predicted and classes is not None:
            assert predicted["probs"].shape == (3, classes)
        if TARGETS[target].points:
            assert predicted["pred"].shape == (3, 2, 2) and predicted["confidence"].shape == (3, 2)


@pytest.mark.parametrize("spec", built_in("losses"), ids=lambda s: s.name)
def test_losses_score_the_outputs_of_a_head_that_provides_what_they_need(spec) -> None:
    heads = [h for h in built_in("heads") if spec.requires <= h.provides]
    assert heads, f"no built-in head provides what loss '{spec.name}' requires"
    head_spec = heads[0]
    target = sorted(head_spec.targets or TARGETS)[0]
    head = build_head(head_spec, target, 8)
    loss = spec.build(None, target=target)
    assert isinstance(loss, Loss)
    y = torch.rand(3, 2, 2) if TARGETS[target].points else torch.tensor([0.0, 1.0, 1.0])
    value = loss(head(features_for(head_spec, 3, 8)), y, torch.ones(3))
    assert value.ndim == 0 and torch.isfinite(value)


@pytest.mark.parametrize("spec", built_in("imbalance"), ids=lambda s: s.name)
def test_imbalance_strategies_give_a_sampler_with_a_copy_mask(spec) -> None:
    params = {"per_class": 5} if "per_class" in spec.params.model_fields else None
    strategy = spec.build(params)
    assert isinstance(strategy, ImbalanceStrategy)
    classes = np.array([0] * 12 + [1] * 3 + [2] * 1)
    sampler = strategy.sampler(classes, 0)
    if sampler is not None:
        assert isinstance(sampler, EpochSampler)
        draw = sampler.draw(0)
        assert isinstance(draw, EpochDraw) and len(draw.indices) == len(sampler) == len(draw.copies)
        assert draw.copies.dtype == bool and draw.indices.max() < len(classes)
    weights = strategy.class_weights(classes, 6)
    assert weights is None or weights.shape == (6,)


@pytest.mark.parametrize("spec", built_in("metrics"), ids=lambda s: s.name)
def test_metrics_are_numbers_with_a_direction(spec) -> None:
    metric = spec.build()
    assert isinstance(metric, Metric)
    target = sorted(spec.targets or TARGETS)[0]
    y = np.array([0.0, 1.0, 1.0, 0.0])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])
    cdf = np.tile(np.linspace(0.5, 1.0, 101), (4, 1))
    if TARGETS[target].classes not in (None, 2):
        probs = np.full((4, TARGETS[target].classes), 1 / TARGETS[target].classes)
    predictions = Predictions(target, y, y, np.array(["a", "b", "c", "d"]), probs, cdf)
    assert isinstance(metric(predictions), float)
    assert spec.display


def test_every_target_has_a_ranking_metric() -> None:
    from zoo.judging.leaderboard import default_metric

    for target in TARGETS:
        name = default_metric(get_registry(), target)
        assert name is not None and target in get_registry().get("metrics", name).ranks


def test_datasets_return_a_sample_table(tmp_path: Path) -> None:
    registry = get_registry()
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"path": ["a.png"], "label": [10.0], "patient_id": ["P1"]}).to_csv(manifest, index=False)
    examples = {
        "scqm": {"csv": str(scqm_export(tmp_path / "scqm")), "images": str(tmp_path / "scqm" / "crops"),
                 "image_pattern": "{sop_iuid}-{joint}.png", "joints": ["a", "b"]},
        "manifest": {"csv": str(manifest)},
        "phantom": {"patients": 2, "visits": 1, "size": 32, "cache_dir": str(tmp_path / "phantom")},
        "landmark_table": {"csv": str(synthetic_landmarks(tmp_path / "points", count=2))},
    }  # fmt: skip
    assert {spec.name for spec in built_in("datasets")} == set(examples)
    for name, params in examples.items():
        table = registry.get("datasets", name).build(params)
        assert isinstance(table, pd.DataFrame) and len(table), name
        assert set(DATASET_COLUMNS) <= set(table.columns), name
        assert [scale for scale in SCALES if scale in table.columns], name  # a label column, or several


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_the_core_names_no_built_in_component_or_metric() -> None:
    names = {spec.name for spec in get_registry().components() if spec.plugin in BUILT_IN}
    names -= SHARED_WORDS
    assert len(names) > 20, "the built-in components are registered"
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\b")
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted((ROOT / "zoo").rglob("*.py"))
        for line, text in _code_strings(path)
        if pattern.search(text)
    ]
    assert not found, "the core names concrete components:\n" + "\n".join(found)


def test_a_metric_that_breaks_the_contract_is_one_clear_error() -> None:
    from zoo.compose.metrics import build_metric
    from zoo.compose.params import NoParams
    from zoo.compose.registry import ComponentSpec
    from zoo.errors import ZooError

    spec = ComponentSpec("metrics", "bare", lambda params: (lambda p: 1.0), NoParams, "", "someone")
    with pytest.raises(ZooError, match=r"metric 'bare' of plugin 'someone' does not follow zoo\.protocols\.Metric"):
        build_metric(spec)
