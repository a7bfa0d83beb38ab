"""One small model per modality, shared by every method of a run.

* images ``[N, c, H, W]``: :class:`SmallCNN` (3 conv-BN-ReLU blocks, 16/32/64 channels,
  global average pooling);
* series ``[N, c, L]``: :class:`Conv1dNet` (the 1-D analogue, kernels 7/5/3; a common strong
  baseline for UCR data, Wang et al. 2017 "Time series classification from scratch");
* tabular features and embeddings ``[N, d]``: :class:`MLP` (two hidden layers, 256/128).

Every model is ``head(features(x))`` with ``features_dim`` outputs before the head, so a method
can swap the head (LDAM uses the cosine head :class:`acwa.losses.NormedLinear`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["Classifier", "SmallCNN", "Conv1dNet", "MLP", "build_model"]


class Classifier(nn.Module):
    """``head(features(x))``; ``features_dim`` outputs before the head."""

    features: nn.Module
    head: nn.Module
    features_dim: int

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _block2d(cin: int, cout: int) -> list:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _block1d(cin: int, cout: int, k: int) -> list:
    return [nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]


class SmallCNN(Classifier):
    """Conv(16)-[pool]-Conv(32)-pool-Conv(64)-GAP-Linear. Inputs of side >= 16 are pooled
    after the first block too, so 28x28 images cost about as much per pixel as 8x8 ones."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int = 8, width: int = 16) -> None:
        super().__init__()
        layers = _block2d(in_channels, width)
        if image_size >= 16:
            layers.append(nn.MaxPool2d(2))
        layers += _block2d(width, 2 * width) + [nn.MaxPool2d(2)] + _block2d(2 * width, 4 * width)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.features_dim = 4 * width
        self.head = nn.Linear(self.features_dim, num_classes)


class Conv1dNet(Classifier):
    """Conv1d(16, k7)-pool-Conv1d(32, k5)-pool-Conv1d(64, k3)-GAP-Linear."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        layers = _block1d(in_channels, width, 7) + [nn.MaxPool1d(2)] + _block1d(width, 2 * width, 5) + [nn.MaxPool1d(2)]
        layers += _block1d(2 * width, 4 * width, 3) + [nn.AdaptiveAvgPool1d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.features_dim = 4 * width
        self.head = nn.Linear(self.features_dim, num_classes)


class MLP(Classifier):
    """Linear(d, 256)-ReLU-Dropout(0.1)-Linear(256, 128)-ReLU-Linear(128, C)."""

    def __init__(
        self, in_features: int, num_classes: int, hidden: Sequence[int] = (256, 128), dropout: float = 0.1
    ) -> None:
        super().__init__()
        layers, d = [], in_features
        for i, h in enumerate(hidden):
            layers += [nn.Linear(d, h), nn.ReLU(inplace=True)]
            if i == 0 and dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        self.features = nn.Sequential(*layers)
        self.features_dim = d
        self.head = nn.Linear(d, num_classes)


def build_model(modality: str, input_shape: Sequence[int], num_classes: int) -> Classifier:
    """The model of a modality for inputs of ``input_shape`` (without the batch axis)."""
    if modality == "image":
        c, h, w = input_shape
        return SmallCNN(c, num_classes, image_size=min(h, w))
    if modality == "series":
        return Conv1dNet(input_shape[0], num_classes)
    if modality in ("tabular", "embedding"):
        (d,) = input_shape
        return MLP(d, num_classes)
    raise ValueError(f"modality must be 'image', 'series', 'tabular' or 'embedding', got {modality!r}")
