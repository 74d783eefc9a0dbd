"""Whole-model speed: generated modules against the hand-written modules users write today, side by side.

    .venv/bin/python -m benchmarks.torch_model     (2 threads; part of `make bench`)

- torchvision layout (specs/alexnet_torchvision.yaml) against a hand-written nn.Sequential of it;
- the paper's two-tower model (specs/alexnet.yaml, LRN within each tower) against hand-written modules that use
  torch.nn.LocalResponseNorm: TwoTowerAlexNet (the towers written out, as in the paper's figure) and
  GroupedAlexNet (grouped convolutions, one nn.LocalResponseNorm per tower).
Weights are copied from the hand-written module into the generated one and the outputs compared before timing.
Eval mode under torch.no_grad (inference), then train mode forward+backward. Medians of interleaved repetitions.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from alexnet_spec.backends.torch import backend
from alexnet_spec.source.loading import load_network
from benchmarks.ceiling import heavy_layers
from benchmarks.harness import interleaved, ratio
from benchmarks.record import Row

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


def _infer(model, x):
    def call():
        with torch.no_grad():
            model(x)
    return call


def _train_step(model, x, labels, set_to_none=True):
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)

    def step():
        optimizer.zero_grad(set_to_none=set_to_none)
        nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()
    return step


def paper_models():
    towers, paper = TwoTowerAlexNet(), generated("alexnet.yaml")
    with torch.no_grad():
        for parameter in towers.parameters():  # larger than the paper's N(0, 0.01), so the outputs vary
            parameter.normal_(0, 0.05)
    paper.load_state_dict(towers.canonical_state_dict())
    return paper, towers


def torchvision_models():
    sequential, ours = torchvision_sequential(), generated("alexnet_torchvision.yaml")
    copy_in_order(sequential, ours)
    return ours, sequential


def run(quick: bool = False) -> list[Row]:
    """Forward (batch 1 and 16; eager and torch.compile) and the training step, generated against hand-written; the
    forward rows carry their FLOP counts, so the record shows their share of the float32 limit (benchmarks/limits.py)."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    repetitions = 1 if quick else 7
    rows = []
    pairs = {"torchvision layout": (torchvision_models(), 224, 1.0), "paper model": (paper_models(), 227, 1.3)}
    macs = {"torchvision layout": load_network(ROOT / "specs" / "alexnet_torchvision.yaml").total_macs,
            "paper model": load_network(ROOT / "specs" / "alexnet.yaml").total_macs}
    careful = {label: careful_model(label, ours, theirs) for label, ((ours, theirs), _, _) in pairs.items()}
    for label, ((ours, theirs), size, target) in pairs.items():
        ours.eval(), theirs.eval(), careful[label].eval()
        for batch in ((1,) if quick else (1, 16)):
            x = torch.randn(batch, 3, size, size)
            with torch.no_grad():
                torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)
                torch.testing.assert_close(careful[label](x), theirs(x), rtol=1e-4, atol=1e-5)
            timings = interleaved({"ours": _infer(ours, x), "theirs": _infer(theirs, x),
                                   "careful": _infer(careful[label], x)}, repetitions=repetitions)
            speedup = ratio(timings["theirs"], timings["ours"])
            flops = 2.0 * macs[label] * batch
            rows.append(Row("Forward (torch)", f"{label}, batch {batch}, eager: generated vs hand-written",
                            timings["ours"], f">= {target}×", speedup >= target, ratio=speedup, target_ratio=target,
                            value=f"{speedup:.2f}× ({timings['ours'].describe()})", flops=flops,
                            note=f"hand-written {timings['theirs'].describe()}"))
            rows.append(_against_careful("Forward (torch)", f"{label}, batch {batch}, eager", timings,
                                         CAREFUL_FORWARD_TARGET))
            if batch == 16 and not quick:
                rows.append(_ceiling_row("Forward (torch)", f"{label}, batch 16, eager", careful[label], x,
                                         timings["careful"], repetitions))
            if label == "paper model" and batch == 16:
                rows.append(Row("Forward (torch)", "paper model, batch 16, eager: generated, share of the limit",
                                timings["ours"], ">= 60%", None, flops=flops, share_target=0.6))
            if not quick:
                rows += _compiled(label, ours, theirs, x, repetitions, target, flops)
    # The quick run shows the training step still runs with one pair: the code is the same for both.
    for label, ((ours, theirs), size, _) in list(pairs.items())[:1 if quick else None]:
        x, labels = torch.randn(2 if quick else 16, 3, size, size), torch.randint(0, 1000, (2 if quick else 16,))
        ours.train(), theirs.train(), careful[label].train()
        timings = interleaved({"ours": _train_step(ours, x, labels), "theirs": _train_step(theirs, x, labels),
                               "careful": _train_step(careful[label], x, labels)}, repetitions=repetitions)
        speedup = ratio(timings["theirs"], timings["ours"])
        rows.append(Row("Training step (torch)", f"{label}, batch {x.shape[0]}: forward + backward + SGD step",
                        timings["ours"], ">= 1.1×", speedup >= 1.1, ratio=speedup, target_ratio=1.1,
                        value=f"{speedup:.2f}× ({timings['ours'].describe()})",
                        note=f"hand-written {timings['theirs'].describe()}"))
        rows.append(_against_careful("Training step (torch)", f"{label}, batch {x.shape[0]}, forward + backward + SGD "
                                     "step", timings, CAREFUL_TRAINING_TARGET))
        if not quick:
            rows.append(_kept_gradients_row(label, ours, careful[label], x, labels, repetitions))
            rows.append(_ceiling_row("Training step (torch)", f"{label}, batch {x.shape[0]}, forward + backward + SGD "
                                     "step", careful[label], x, timings["careful"], repetitions, train=True))
    return rows


def _ceiling_row(section, what, careful, x, careful_timing, repetitions, train=False) -> Row:
    """The most the generated module can gain on the careful one by what it writes around the convolutions and
    matmuls, which both call with the same shapes: careful / (those layers alone; benchmarks/ceiling.py)."""
    parts = heavy_layers(careful, x, repetitions, train=train)
    seconds = sum(parts.values())
    ceiling = careful_timing.median / seconds
    passes = "forward and backward" if train else "forward"
    return Row(section, f"{what}: the ratio's ceiling, channels_last hand-written / its convolutions and matmuls alone",
               None, None, None, value=f"{ceiling:.2f}×",
               note=f"those layers' {passes}, each alone on its own input: {seconds * 1e3:.1f} ms of the hand-written "
                    f"{careful_timing.median * 1e3:.1f} ms; reported")


def _kept_gradients_row(label, ours, careful, x, labels, repetitions) -> Row:
    """The same step with zero_grad(set_to_none=False), as a step that keeps its gradient tensors between steps (the
    memory benchmark's step): backward then adds each gradient to an existing one. Not a target; shown beside it."""
    timings = interleaved({"ours": _train_step(ours, x, labels, set_to_none=False),
                           "careful": _train_step(careful, x, labels, set_to_none=False)}, repetitions=repetitions)
    speedup = ratio(timings["careful"], timings["ours"])
    return Row("Training step (torch)", f"{label}, batch {x.shape[0]}, forward + backward + SGD step, gradients kept "
               "(zero_grad(set_to_none=False)): generated vs hand-written channels_last", timings["ours"], None, None,
               value=f"{speedup:.2f}× ({timings['ours'].describe()})",
               note=f"channels_last hand-written {timings['careful'].describe()}")


# Issue 23's targets against the best a careful user writes by hand in float32, eager.
CAREFUL_FORWARD_TARGET, CAREFUL_TRAINING_TARGET = 1.1, 1.2


class ChannelsLast(nn.Module):
    """A careful user's step: the weights channels last, and each batch (as the data arrives, N, C, H, W) made
    channels last before the model, as the generated module does inside its forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, x):
        return self.model(x.contiguous(memory_format=torch.channels_last))


def careful_model(label: str, ours: nn.Module, theirs: nn.Module) -> nn.Module:
    """The hand-written module as a careful user runs it, channels last; the paper model as GroupedAlexNet (one
    tower, grouped convolutions: no concatenations), with the generated model's weights."""
    import copy

    if label == "paper model":
        model = GroupedAlexNet()
        copy_in_order(ours, model)
    else:
        model = copy.deepcopy(theirs)
    return ChannelsLast(model)


def _against_careful(section: str, what: str, timings, target: float) -> Row:
    speedup = ratio(timings["careful"], timings["ours"])
    return Row(section, f"{what}: generated vs hand-written channels_last", timings["ours"], f">= {target}×",
               speedup >= target, ratio=speedup, target_ratio=target,
               value=f"{speedup:.2f}× ({timings['ours'].describe()})",
               note=f"channels_last hand-written {timings['careful'].describe()}")


def _compiled(label, ours, theirs, x, repetitions, target, flops) -> list[Row]:
    """The same pair under torch.compile (compilation excluded: the warm-up runs it)."""
    compiled_ours, compiled_theirs = torch.compile(ours), torch.compile(theirs)
    timings = interleaved({"ours": _infer(compiled_ours, x), "theirs": _infer(compiled_theirs, x)},
                          repetitions=repetitions, warmup=2)
    speedup = ratio(timings["theirs"], timings["ours"])
    rows = [Row("Forward (torch)", f"{label}, batch {x.shape[0]}, torch.compile: generated vs hand-written",
                timings["ours"], f">= {target}×", speedup >= target, ratio=speedup, target_ratio=target,
                value=f"{speedup:.2f}× ({timings['ours'].describe()})", flops=flops,
                note=f"hand-written {timings['theirs'].describe()}")]
    if label == "paper model" and x.shape[0] == 16:
        rows.append(Row("Forward (torch)", "paper model, batch 16, torch.compile: generated, share of the limit",
                        timings["ours"], ">= 70%", None, flops=flops, share_target=0.7))
    return rows


def main() -> None:
    from benchmarks import record

    from benchmarks import limits

    rows = record.judge(limits.run() + run())
    print(record.markdown(rows, "python -m benchmarks.torch_model", record.machine(), None))


def copy_in_order_from_state(model: "GroupedAlexNet", state: dict[str, torch.Tensor]) -> None:
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    with torch.no_grad():
        for name, layer in zip(names, list(model.features) + list(model.classifier)):
            layer.weight.copy_(state[f"{name}.weight"])
            layer.bias.copy_(state[f"{name}.bias"])


if __name__ == "__main__":
    main()
