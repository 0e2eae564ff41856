"""Export a run's model to ONNX, with the head's prediction step where it can.

The exported graph takes `image` (B, 1, S, S), float in [0, 1] (8-bit crops divided by 255,
prepared as in training: grayscale, padded square, resized to S), and returns `outputs` (the raw
head outputs) followed by the prediction step's tensors (e.g. `probs` and `pred`; for the CDF
head also `cdf`, `median`, `lower`, `upper`, `stage`). A multi-target model's `outputs` are
every head's side by side (config.json's `extra_targets` order), and each extra target's
prediction tensors follow the main target's, named `<target>_<tensor>` (`svdh_jsn_probs`). A
head whose prediction step does not export is exported with `outputs` only, and the command says
so. The export is checked against the PyTorch model with onnxruntime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo.compose.registry import Registry
from zoo.errors import UsageError, ZooError
from zoo.training.model import TrainedModel, load

TOLERANCE = 1e-4


class WithPrediction(nn.Module):
    """The model followed by its head's prediction step, as a tuple of tensors."""

    def __init__(self, model: TrainedModel, keys: list[tuple[str, str]], threshold: float | None = None) -> None:
        super().__init__()
        self.model = model
        self.keys = keys  # (target, tensor) of each prediction tensor, in output order
        self.threshold = threshold  # a binary run's operating point replaces the main head's 0.5

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(image)
        if not self.keys:
            return (outputs,)
        predicted = {target: dict(self.model.predict_target(outputs, target)) for target in self.model.targets}
        main = predicted[self.model.targets[0]]
        if self.threshold is not None and "probs" in main:
            main["pred"] = (main["probs"][:, 1] >= self.threshold).float()
        return (outputs, *[predicted[target][key] for target, key in self.keys])

    def names(self) -> list[str]:
        """The graph's output names: `outputs`, the main target's tensors, `<target>_<tensor>` of the others."""
        main = self.model.targets[0]
        return ["outputs", *(key if target == main else f"{target}_{key}" for target, key in self.keys)]


@dataclass
class Exported:
    """Where the file went, what it returns, and how far onnxruntime is from PyTorch."""

    path: Path
    outputs: list[str]
    with_prediction: bool
    max_difference: float


def _require_onnx() -> None:
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise UsageError(
            "ONNX export needs onnx, onnxscript and onnxruntime", hint="pip install 'erosion-zoo[onnx]'"
        ) from None


def _export(wrapper: WithPrediction, example: torch.Tensor, path: Path, names: list[str]) -> None:
    batch = torch.export.Dim("batch")
    torch.onnx.export(
        wrapper,
        (example,),
        str(path),
        dynamo=True,
        input_names=["image"],
        output_names=names,
        dynamic_shapes=({0: batch},),
        verbose=False,
    )


def check(path: Path, wrapper: WithPrediction, size: int) -> float:
    """Largest absolute difference between onnxruntime and PyTorch on random crops."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).random((3, 1, size, size), dtype=np.float32)
    got = session.run(None, {"image": images})
    with torch.no_grad():
        want = wrapper(torch.from_numpy(images))
    return max(float(np.abs(a - b.float().numpy()).max()) for a, b in zip(got, want, strict=True))


def export_onnx(run: Path, registry: Registry, out: Path | None = None) -> Exported:
    """Write RUN_DIR/model.onnx (or `out`) and check it."""
    _require_onnx()
    model, config = load(run, registry)
    size = int(config["image_size"])
    example = torch.rand(2, 1, size, size)
    with torch.no_grad():
        outputs = model(example)
        keys = [(target, key) for target in model.targets for key in sorted(model.predict_target(outputs, target))]
    path = out or run / "model.onnx"
    try:
        wrapper = WithPrediction(model, keys, config.get("threshold")).eval()
        names, with_prediction = wrapper.names(), True
        _export(wrapper, example, path, names)
    except Exception:  # a prediction step that does not export: the raw outputs still do
        wrapper = WithPrediction(model, []).eval()
        _export(wrapper, example, path, ["outputs"])
        names, with_prediction = ["outputs"], False
    difference = check(path, wrapper, size)
    if not math.isfinite(difference):
        raise ZooError(
            "the model's outputs are not finite numbers (NaN or infinite weights?); nothing to export",
            hint="train the recipe again, with a lower learning rate",
        )
    if difference > TOLERANCE:
        raise ZooError(
            f"the ONNX model differs from PyTorch by up to {difference:.2g}",
            hint="report this with the run's config.json",
        )
    return Exported(path, names, with_prediction, difference)
