"""Whole-model speed: generated modules against the hand-written modules users write today, side by side.

    .venv/bin/python -m benchmarks.torch_model [--batch 32] [--repeats 7] [--threads 2] [--no-train]

- torchvision layout (specs/alexnet_torchvision.yaml) against a hand-written nn.Sequential of it;
- the paper's two-tower model (specs/alexnet.yaml, LRN within each tower) against hand-written modules that use
  torch.nn.LocalResponseNorm: TwoTowerAlexNet (the towers written out, as in the paper's figure) and
  GroupedAlexNet (grouped convolutions, one nn.LocalResponseNorm per tower).
Weights are copied from the hand-written module into the generated one and the outputs compared before timing.
Eval mode under torch.no_grad (inference), then train mode forward+backward. Medians of interleaved repetitions.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from alexnet_spec.backends.torch import backend
from alexnet_spec.loading import load_network

ROOT = Path(__file__).resolve().parent.parent
PAPER_LRN = dict(size=5, alpha=5e-4, beta=0.75, k=2.0)  # torch divides alpha by n: 5e-4 / 5 = the paper's 1e-4


def torchvision_sequential() -> nn.Sequential:
    """torchvision.models.alexnet's layers, written as users write them."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten(),
        nn.Dropout(p=0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Dropout(p=0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, 1000),
    )


def _pair(make) -> nn.ModuleList:
    return nn.ModuleList([make(), make()])


class TwoTowerAlexNet(nn.Module):
    """The paper's model with its two towers written out: each tower holds half of every layer's kernels, conv3
    and the dense layers read both towers, and each tower normalises its own maps (nn.LocalResponseNorm)."""

    def __init__(self):
        super().__init__()
        self.conv1 = _pair(lambda: nn.Conv2d(3, 48, kernel_size=11, stride=4))
        self.conv2 = _pair(lambda: nn.Conv2d(48, 128, kernel_size=5, padding=2))
        self.conv3 = _pair(lambda: nn.Conv2d(256, 192, kernel_size=3, padding=1))
        self.conv4 = _pair(lambda: nn.Conv2d(192, 192, kernel_size=3, padding=1))
        self.conv5 = _pair(lambda: nn.Conv2d(192, 128, kernel_size=3, padding=1))
        self.fc6 = _pair(lambda: nn.Linear(9216, 2048))
        self.fc7 = _pair(lambda: nn.Linear(4096, 2048))
        self.fc8 = _pair(lambda: nn.Linear(4096, 500))
        self.norm = nn.LocalResponseNorm(**PAPER_LRN)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.drop = nn.Dropout(p=0.5)

    def forward(self, x):
        towers = [self.pool(self.norm(torch.relu(conv(x)))) for conv in self.conv1]
        towers = [self.pool(self.norm(torch.relu(conv(t)))) for conv, t in zip(self.conv2, towers)]
        both = torch.cat(towers, dim=1)
        towers = [torch.relu(conv(both)) for conv in self.conv3]
        towers = [torch.relu(conv(t)) for conv, t in zip(self.conv4, towers)]
        towers = [self.pool(torch.relu(conv(t))) for conv, t in zip(self.conv5, towers)]
        both = torch.cat([torch.flatten(t, 1) for t in towers], dim=1)
        both = torch.cat([self.drop(torch.relu(fc(both))) for fc in self.fc6], dim=1)
        both = torch.cat([self.drop(torch.relu(fc(both))) for fc in self.fc7], dim=1)
        return torch.softmax(torch.cat([fc(both) for fc in self.fc8], dim=1), dim=1)

    def canonical_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights in the canonical single-device layout: each layer's two towers joined along axis 0."""
        return {f"{name}.{kind}": torch.cat([getattr(layer, kind) for layer in pair]).detach()
                for name, pair in self.named_children() if isinstance(pair, nn.ModuleList)
                for kind in ("weight", "bias")}


class GroupedAlexNet(nn.Module):
    """The same model in one tower: grouped convolutions, and one nn.LocalResponseNorm per tower."""

    def __init__(self):
        super().__init__()
        self.features = nn.ModuleList([
            nn.Conv2d(3, 96, kernel_size=11, stride=4), nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),
            nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2)])
        self.classifier = nn.ModuleList([nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)])
        self.norm = nn.LocalResponseNorm(**PAPER_LRN)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.drop = nn.Dropout(p=0.5)

    def tower_norm(self, x):
        return torch.cat([self.norm(tower) for tower in x.chunk(2, dim=1)], dim=1)

    def forward(self, x):
        conv1, conv2, conv3, conv4, conv5 = self.features
        x = self.pool(self.tower_norm(torch.relu(conv1(x))))
        x = self.pool(self.tower_norm(torch.relu(conv2(x))))
        x = torch.relu(conv3(x))
        x = torch.relu(conv4(x))
        x = torch.flatten(self.pool(torch.relu(conv5(x))), 1)
        fc6, fc7, fc8 = self.classifier
        x = self.drop(torch.relu(fc6(x)))
        x = self.drop(torch.relu(fc7(x)))
        return torch.softmax(fc8(x), dim=1)

    def canonical_state_dict(self) -> dict[str, torch.Tensor]:
        names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
        layers = list(self.features) + list(self.classifier)
        return {f"{name}.{kind}": getattr(layer, kind).detach() for name, layer in zip(names, layers)
                for kind in ("weight", "bias")}


def generated(spec: str) -> nn.Module:
    with contextlib.chdir(ROOT):
        return backend.build(load_network(f"specs/{spec}"))


def copy_in_order(source: nn.Module, target: nn.Module) -> None:
    """Parameters copied one by one in declaration order (the torchvision layout has the same order)."""
    with torch.no_grad():
        for theirs, ours in zip(source.parameters(), target.parameters(), strict=True):
            ours.copy_(theirs)


def median_times(functions: dict, repeats: int) -> dict[str, float]:
    for function in functions.values():
        function()
    samples = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


def compare(title: str, models: dict[str, nn.Module], x: torch.Tensor, repeats: int, train: bool) -> None:
    with torch.no_grad():
        outputs = {name: model.eval()(x) for name, model in models.items()}
    first = next(iter(outputs.values()))
    for name, output in outputs.items():
        torch.testing.assert_close(output, first, rtol=1e-4, atol=1e-5, msg=f"{name} differs")

    def infer(model):
        def run():
            with torch.no_grad():
                model(x)
        return run

    def step(model):
        def run():
            model(x).sum().backward()
            model.zero_grad(set_to_none=True)
        return run

    rows = [("eval, no_grad", median_times({name: infer(m.eval()) for name, m in models.items()}, repeats))]
    if train:
        rows.append(("train fwd+bwd", median_times({name: step(m.train()) for name, m in models.items()}, repeats)))
    names = list(models)
    print(f"\n{title} (batch {x.shape[0]})")
    print(f"{'pass':>14} " + " ".join(f"{name:>22}" for name in names) + "   generated speed-up")
    for label, times in rows:
        ours = times[names[0]]
        speedups = ", ".join(f"{times[name] / ours:.2f}x vs {name}" for name in names[1:])
        print(f"{label:>14} " + " ".join(f"{times[name]:>19.1f} ms" for name in names) + f"   {speedups}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-train", dest="train", action="store_false", help="skip forward+backward")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, medians of {args.repeats}")

    sequential, ours = torchvision_sequential(), generated("alexnet_torchvision.yaml")
    copy_in_order(sequential, ours)
    compare("torchvision layout", {"generated": ours, "nn.Sequential": sequential},
            torch.randn(args.batch, 3, 224, 224), args.repeats, args.train)

    towers, grouped, paper = TwoTowerAlexNet(), GroupedAlexNet(), generated("alexnet.yaml")
    with torch.no_grad():
        for parameter in towers.parameters():  # larger than the paper's N(0, 0.01), so the outputs vary
            parameter.normal_(0, 0.05)
    paper.load_state_dict(towers.canonical_state_dict())
    grouped_state = dict(zip(grouped.canonical_state_dict(), towers.canonical_state_dict().values()))
    copy_in_order_from_state(grouped, grouped_state)
    compare("paper model, LRN within each tower", {"generated": paper, "two towers": towers, "grouped": grouped},
            torch.randn(args.batch, 3, 227, 227), args.repeats, args.train)


def copy_in_order_from_state(model: "GroupedAlexNet", state: dict[str, torch.Tensor]) -> None:
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    with torch.no_grad():
        for name, layer in zip(names, list(model.features) + list(model.classifier)):
            layer.weight.copy_(state[f"{name}.weight"])
            layer.bias.copy_(state[f"{name}.bias"])


if __name__ == "__main__":
    main()
