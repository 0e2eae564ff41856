"""The tiny_cnn backbone: conv blocks, then global average pooling to a feature vector."""

from torch import nn


class TinyCNN(nn.Module):
    """Maps (B, C, H, W) to (B, num_features)."""

    def __init__(self, in_chans: int, width: int, blocks: int) -> None:
        super().__init__()
        layers = []
        channels = in_chans
        for block in range(blocks):
            out = width * 2**block
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            layers.append(nn.MaxPool2d(2))
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = channels

    def forward(self, x):
        return self.pool(self.features(x)).flatten(1)

    def feature_layer(self) -> nn.Module:
        """The module whose (B, C, h, w) map attention maps explain: the conv blocks, before pooling."""
        return self.features


def build(params, in_chans):
    """The factory the zoo calls: its params, and the number of input channels."""
    return TinyCNN(in_chans=in_chans, width=params.width, blocks=params.blocks)
