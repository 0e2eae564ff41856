"""A heatmap per landmark on a feature map, and its sub-pixel peak: the head of a locator.

The backbone's (B, C, h, w) feature map goes through a 3x3 convolution (BatchNorm, ReLU) and a
1x1 convolution to one map of logits per point, (B, K, h, w): the raw outputs the loss reads. A
softmax over each map's cells makes it a distribution of the point's position.

`predict` reads it out: the most probable cell, then the probability-weighted centre of the
cells within `window` cells of it, a position finer than a cell (a cell is 4 pixels of the input:
about 13 pixels of a 1,280 px radiograph at 384 px). Reading the centre around the peak, not
over the whole map, keeps a second bright spot (another hand, a ruler) from pulling the point
between the two. Its `confidence` is the probability mass in that window: near 1 when the map is
sure of one place, small when it is spread out (no hand, or a joint the map cannot find).
Positions are unit coordinates of the square input (zoo.landmarks): (0, 0) its top-left corner.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .params import HeatmapParams


class HeatmapHead(nn.Module):
    """Feature map (B, C, h, w) to heatmap logits (B, K, h, w), one per landmark."""

    outputs = frozenset({"pred", "confidence"})

    def __init__(self, in_features: int, target: str, landmarks: list[str], hidden: int, window: int) -> None:
        super().__init__()
        if not landmarks:
            raise ValueError("the heatmap head needs the names of the points it locates")
        self.target = target
        self.landmarks = list(landmarks)
        self.window = window
        self.hidden = nn.Sequential(nn.Conv2d(in_features, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU())
        self.out = nn.Conv2d(hidden, len(landmarks), 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.out(self.hidden(features))
        return logits

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The last hidden layer, averaged over the map (for t-SNE and nearest neighbours)."""
        hidden: torch.Tensor = self.hidden(features)
        return hidden.mean(dim=(2, 3))

    def severity(self, outputs: torch.Tensor) -> torch.Tensor:
        """How sharply the maps peak, averaged over the points (differentiable: what attention maps explain)."""
        return outputs.float().flatten(2).logsumexp(dim=2).mean(dim=1)

    @torch.no_grad()
    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """`pred` (B, K, 2): each point's (x, y) in unit coordinates; `confidence` (B, K) in [0, 1]."""
        return peaks(outputs, self.window)


def peaks(logits: torch.Tensor, window: int) -> dict[str, torch.Tensor]:
    """Each map's peak, refined to the probability-weighted centre of the cells around it."""
    batch, count, height, width = logits.shape
    probs = F.softmax(logits.float().flatten(2), dim=2).view(batch, count, height, width)
    top = probs.flatten(2).argmax(dim=2)
    row, column = top // width, top % width
    offsets = torch.arange(-window, window + 1, device=logits.device)
    rows = row[..., None] + offsets  # (B, K, 2w + 1)
    columns = column[..., None] + offsets
    inside_rows = (rows >= 0) & (rows < height)
    inside_columns = (columns >= 0) & (columns < width)
    rows, columns = rows.clamp(0, height - 1), columns.clamp(0, width - 1)
    flat = probs.flatten(2)
    cells = rows[..., :, None] * width + columns[..., None, :]  # (B, K, 2w + 1, 2w + 1)
    mass = torch.gather(flat, 2, cells.flatten(2)).view(cells.shape)
    mass = mass * (inside_rows[..., :, None] & inside_columns[..., None, :])
    total = mass.sum(dim=(2, 3)).clamp_min(1e-12)
    y = (mass.sum(dim=3) * rows).sum(dim=2) / total
    x = (mass.sum(dim=2) * columns).sum(dim=2) / total
    position = torch.stack([(x + 0.5) / width, (y + 0.5) / height], dim=2)
    return {"pred": position, "confidence": total.clamp(max=1.0)}


def build(params: HeatmapParams, in_features: int, target: str, landmarks: list[str]) -> HeatmapHead:
    """The `heatmap` factory."""
    return HeatmapHead(in_features, target, landmarks, params.hidden, params.window)
