"""The thesis's VGG-style CNN (thesis section 4.2, THESIS-FACTS).

Blocks of [3x3 conv ("same" padding) -> BatchNorm -> ReLU] x 2, each block ending in a 2x2 max
pool; filters 32, 32, 64, 64, 128, 128 (doubling every second block); He-normal initialisation.
The thesis flattens the last block's map; at its 150 px input that map is 2 x 2. So that the
network works from 64 px up, the map is average-pooled to `pool_grid x pool_grid` first, which
changes nothing at 150 px with the default grid of 2.
Input: grayscale in [0, 1] (the thesis's /255 scaling), 1 channel.
"""

from __future__ import annotations

import torch
from torch import nn

from .params import ThesisVGGParams


class ThesisVGG(nn.Module):
    """Maps (B, C, H, W) in [0, 1] to (B, num_features)."""

    def __init__(self, in_chans: int, filters: list[int], convs_per_block: int, pool_grid: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_chans
        for width in filters:
            for _ in range(convs_per_block):
                layers += [
                    nn.Conv2d(channels, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool_grid)
        self.num_features = channels * pool_grid * pool_grid
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled: torch.Tensor = self.pool(self.features(x))
        return pooled.flatten(1)

    def feature_layer(self) -> nn.Module:
        """The last block's final ReLU: its (B, filters[-1], h, w) map, before the block's max pool."""
        return self.features[-2]  # `features` ends [..., Conv2d, BatchNorm2d, ReLU, MaxPool2d]


def build(params: ThesisVGGParams, in_chans: int) -> ThesisVGG:
    """The `thesis_vgg` factory."""
    return ThesisVGG(in_chans, list(params.filters), params.convs_per_block, params.pool_grid)
