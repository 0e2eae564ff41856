"""The zoo's data paths on real radiographs (skipped where ../shared/data/real is absent)."""

from __future__ import annotations

import json

from conftest import ROOT, needs_real_data, run_zoo

from zoo.images import load_prepared


def test_real_wrist_recipe_data_checks_clean() -> None:
    needs_real_data("ram-w600-wrists", "labels.csv")
    result = run_zoo("data", "check", "recipes/real/ram_w600_wrists.yaml", "--json", cwd=ROOT)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["samples"] == 50 and report["problems"] == []
    text = run_zoo("data", "check", "recipes/real/ram_w600_wrists.yaml", cwd=ROOT)
    assert "50 usable samples of" in text.out and "labels: binary, target: binary" in text.out


def test_real_finger_crops_decode_like_training_data() -> None:
    crops = needs_real_data("rsna-finger-crops")
    for path in sorted(crops.glob("*.png"))[:10]:
        pixels = load_prepared(path, 64)
        assert pixels.shape == (64, 64) and 20 < pixels.mean() < 235
