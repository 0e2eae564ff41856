"""What a model asks of its heads beyond the protocol: averaging passes (`averageable` heads:
test-time augmentation, ensembles) and scaling by a temperature (`scalable` heads: calibration).
A head that lacks the method it is asked for gives one clear error."""

from __future__ import annotations

import torch

from zoo.errors import UsageError
from zoo.protocols import AverageableHead, Head, ScalableHead


def average(head: Head, passes: torch.Tensor) -> torch.Tensor:
    """The head's raw outputs of several passes (M, B, ...) as one pass's (`AverageableHead.average`)."""
    if not isinstance(head, AverageableHead):
        raise UsageError(
            f"the {head.target} head cannot average passes (it has no 'average')",
            hint="test-time augmentation and ensembles need a head that provides 'averageable'",
        )
    return head.average(passes)


def scale(head: Head, outputs: torch.Tensor, temperature: float) -> torch.Tensor:
    """The head's raw outputs at a temperature (`ScalableHead.scale`); unchanged at 1."""
    if temperature == 1.0:
        return outputs
    if not isinstance(head, ScalableHead):
        raise UsageError(
            f"the {head.target} head cannot take a temperature (it has no 'scale')",
            hint="eval.calibrate needs a head that provides 'scalable'",
        )
    return head.scale(outputs, temperature)
