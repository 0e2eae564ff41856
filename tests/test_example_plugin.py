"""The documented example plugin, installed as a real package, works unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_zoo, write

EXAMPLE = ROOT / "docs" / "examples" / "zoo-example-plugin"

RECIPE = """\
name: with_example
data:
  dataset: {name: phantom}
  image_size: 64
model:
  backbone: {name: tiny_cnn, params: {width: 4, blocks: 2}}
  head: {name: softmax}
loss: {name: cross_entropy}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed with pip into its own folder (its entry point included)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    return target


def test_installed_example_appears_in_list(site: Path) -> None:
    result = run_zoo("list", "backbones", "--json", env={"PYTHONPATH": str(site)})
    assert result.code == 0, result.err
    tiny = next(r for r in json.loads(result.out) if r["name"] == "tiny_cnn")
    assert tiny["plugin"] == "example"
    plugins = json.loads(run_zoo("plugins", "--json", env={"PYTHONPATH": str(site)}).out)
    example = next(p for p in plugins if p["name"] == "example")
    assert (example["distribution"], example["builtin"], example["error"]) == (
        "zoo-example-plugin",
        False,
        None,
    )


def test_example_component_validates_in_a_recipe(site: Path, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(site)}
    good = write(tmp_path / "good.yaml", RECIPE)
    assert run_zoo("validate", str(good), env=env).code == 0
    bad = write(tmp_path / "bad.yaml", RECIPE.replace("width: 4", "width: 0"))
    result = run_zoo("validate", str(bad), env=env)
    assert result.code == 2
    assert "model.backbone.params.width: backbone 'tiny_cnn': Input should be greater than or equal to 1" in result.err


def test_example_backbone_follows_the_protocol(site: Path) -> None:
    code = (
        "import torch\n"
        "from zoo.compose.plugins import get_registry\n"
        "net = get_registry().get('backbones', 'tiny_cnn').build({'width': 4, 'blocks': 2}, in_chans=1)\n"
        "out = net(torch.zeros(3, 1, 32, 32))\n"
        "assert tuple(out.shape) == (3, net.num_features) == (3, 8), out.shape\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
