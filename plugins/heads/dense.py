"""The dense layers the thesis puts between backbone and output: Linear -> BN -> ReLU -> dropout."""

from __future__ import annotations

from torch import nn


def dense_stack(in_features: int, hidden: list[int], dropout: float) -> tuple[nn.Sequential, int]:
    """The dense layers and the width of their output."""
    layers: list[nn.Module] = []
    width = in_features
    for units in hidden:
        layers += [
            nn.Linear(width, units, bias=False),
            nn.BatchNorm1d(units),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        ]
        width = units
    return nn.Sequential(*layers), width
