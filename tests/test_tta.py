"""Test-time augmentation (#31): the model's probabilities averaged over fixed transforms, kept in
the run and used by evaluation, predict and export; refused for heads that cannot be averaged."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, phantom_crops, write, zoo_in_process
from test_calibration import CALIBRATED

from zoo.compose.plugins import get_registry
from zoo.training.model import build_model, load

TTA = CALIBRATED.replace("name: tiny_calibrated", "name: tiny_tta").replace(
    "calibrate: temperature", "tta: {flips: true, rotations: [180]}"
)


def test_the_probabilities_are_the_mean_over_the_transforms_in_eval_mode_only() -> None:
    registry = get_registry()
    backbone = SimpleNamespace(name="thesis_vgg", params={"filters": [8, 8, 16, 16, 32, 32]})
    model = build_model(registry, backbone, SimpleNamespace(name="softmax", params={"hidden": [16]}), "stage").eval()
    x = torch.rand(3, 1, 64, 64)
    model.tta = ("identity", "flip", "rot180")
    with torch.no_grad():
        passes = [model.raw(x), model.raw(torch.flip(x, dims=[3])), model.raw(torch.rot90(x, 2, dims=[2, 3]))]
        expected = torch.stack([p.softmax(dim=1) for p in passes]).mean(dim=0)  # the mean probabilities
        assert torch.allclose(model.predict(model(x))["probs"], expected, atol=1e-6)
        model.train()
        torch.manual_seed(0)
        trained = model(x)
        torch.manual_seed(0)  # the same dropout
        assert torch.allclose(trained, model.raw(x)), "training sees each crop once"


def test_a_tta_run_keeps_its_transforms_and_predict_and_export_use_them(tmp_path: Path) -> None:
    result = zoo_in_process("run", str(write(tmp_path / "r.yaml", TTA)), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert json.loads((run / "config.json").read_text())["tta"] == ["identity", "flip", "rot180"]
    model, _ = load(run, get_registry())
    assert model.tta == ("identity", "flip", "rot180")
    crop = phantom_crops(4)[0]
    scored = zoo_in_process("predict", str(crop), "--scorer", str(run), "--format", "json")
    assert scored.code == 0, scored.err
    pytest.importorskip("onnxruntime")
    exported = zoo_in_process("export", str(run), "--out", str(tmp_path / "m.onnx"))
    assert exported.code == 0, exported.err  # checked against PyTorch, transforms and all


def test_tta_on_a_head_that_cannot_average_is_refused() -> None:
    result = zoo_in_process(
        "validate", str(ROOT / "recipes" / "locate" / "lite0_cpu.yaml"), "--set", "eval.tta={flips: true}"
    )
    assert result.code == 2
    lines = [line for line in result.err.splitlines() if "eval.tta" in line]
    assert len(lines) == 1 and "which head 'heatmap' does not allow" in lines[0], result.err
