"""VGG-16 the way torchvision.models.vgg writes it: make_layers over configuration "D", then the classifier."""

from __future__ import annotations

from torch import Tensor, nn

CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def make_layers(cfg: list) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGG16(nn.Module):
    """`hidden` is torchvision's fixed 4096, a parameter here so that tests can run a narrow classifier."""

    def __init__(self, num_classes: int = 1000, hidden: int = 4096, dropout: float = 0.5):
        super().__init__()
        self.features = make_layers(CFG_D)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _spec_names() -> dict[str, str]:
    """conv{stage}_{i} (the paper's names) -> features.{index}; fc6, fc7, fc8 -> classifier.0, .3, .6."""
    names, stage, index, position = {}, 1, 1, 0
    for v in CFG_D:
        if v == "M":
            stage, index, position = stage + 1, 1, position + 1
        else:
            names[f"conv{stage}_{index}"] = f"features.{position}"
            index, position = index + 1, position + 2
    return names | {"fc6": "classifier.0", "fc7": "classifier.3", "fc8": "classifier.6"}


_MODULES = _spec_names()


def NAMES(name: str) -> str:
    module, rest = name.split(".", 1)
    return f"{_MODULES[module]}.{rest}"
