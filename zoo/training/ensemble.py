"""An ensemble: trained models of one target that score as one model (`zoo ensemble`).

Each member scores a crop as it would alone (its own test-time augmentation and temperature);
the heads of the first member then average the members' outputs, as test-time augmentation
averages passes: mean probabilities for class heads, the mean CDF for the CDF head
(`AverageableHead.average`). The ensemble reads and predicts like a model of its first member's
heads, so judging, `zoo predict`, `zoo analyze` and `zoo export` take it like any run's model.
Its `temperature` is its own (`eval.calibrate` fitted on the averaged outputs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from zoo.training.heads import scale

if TYPE_CHECKING:
    from zoo.protocols import Head
    from zoo.training.model import ZooModel


class EnsembleModel(nn.Module):
    """Members (ZooModels of the same targets and heads) whose outputs are averaged."""

    def __init__(self, members: list[ZooModel]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.targets: tuple[str, ...] = members[0].targets
        self.temperature = 1.0  # scales the averaged main outputs (the ensemble's own calibration)

    @property
    def first(self) -> ZooModel:
        """The first member, whose heads average and read the outputs."""
        return cast("ZooModel", self.members[0])

    @property
    def head(self) -> Head:
        """The main target's head (the first member's)."""
        return self.first.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        passes = [member.tempered(member(x)) for member in cast("list[ZooModel]", list(self.members))]
        return self.first.average(torch.stack(passes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The members' last hidden layers side by side."""
        return torch.cat([cast("ZooModel", member).embed(x) for member in self.members], dim=1)

    def split(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each target's raw outputs."""
        return self.first.split(outputs)

    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """The main target's predictions from the averaged outputs."""
        return self.predict_target(outputs, self.targets[0])

    def predict_target(self, outputs: torch.Tensor, target: str) -> dict[str, torch.Tensor]:
        """One target's predictions from the averaged outputs (the main one's after the temperature)."""
        head, raw = self.head_of(target), self.split(outputs)[target]
        return head.predict(scale(head, raw, self.temperature) if target == self.targets[0] else raw)

    def head_of(self, target: str) -> Head:
        """The head that reads `target`'s outputs (the first member's)."""
        return self.first.head_of(target)
