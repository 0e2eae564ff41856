"""`zoo predict`'s speed, in-process with the model loaded: a patient's 10 joints, and 1,000 crops
against a bare forward pass of the same model in the same run.

The model is the quickstart's (EfficientNet-Lite0 + softmax, 64 px; its weights do not change the
speed). The crops are 150 px grayscale PNG files, so reading and resizing count, as for a user.

Usage: python benchmarks/predict_speed.py [--crops 1000] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import arguments, machine, median_seconds
from PIL import Image

from zoo.compose.plugins import get_registry
from zoo.compose.recipe import ComponentRef
from zoo.training.model import build_model
from zoo.using.predict import BATCH, score

SIZE = 64
JOINTS = 10


def crops(folder: Path, count: int) -> pd.DataFrame:
    """`count` random 150 px crops as PNG files, in the table `score` reads."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"crop-{i:04d}.png"
        Image.fromarray(rng.integers(0, 256, (150, 150), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return pd.DataFrame({"sample_id": paths, "image": paths})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = arguments(parser, crops=20, repeats=1)
    torch.manual_seed(0)
    backbone = ComponentRef(name="tf_efficientnet_lite0", params={"pretrained": False})
    model = build_model(get_registry(), backbone, ComponentRef(name="softmax"), "stage").eval()
    config = {"image_size": SIZE, "equalize": "none", "target": "stage"}
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        table = crops(Path(tmp), max(args.crops, JOINTS))
        patient = table.iloc[:JOINTS]
        latency = median_seconds(lambda: score(model, config, patient, device), args.repeats)
        many = median_seconds(lambda: score(model, config, table, device), args.repeats)
    x = torch.rand(len(table), 1, SIZE, SIZE)

    @torch.no_grad()
    def bare() -> None:
        for start in range(0, len(x), BATCH):
            model(x[start : start + BATCH])

    forward = median_seconds(bare, args.repeats)
    print(f"machine: {machine()}")
    print(f"quickstart model (Lite0 + softmax, {SIZE} px), 150 px PNG crops; median of {args.repeats} runs")
    print("| what | seconds | crops/s | ratio |")
    print("|---|---|---|---|")
    print(f"| zoo predict, one patient's {JOINTS} joints | {latency:.3f} | {JOINTS / latency:.0f} | |")
    print(f"| bare forward pass, {len(table)} crops in memory | {forward:.3f} | {len(table) / forward:.0f} | 1.0 |")
    ratio = forward / many
    print(f"| zoo predict, {len(table)} crops from files | {many:.3f} | {len(table) / many:.0f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
