"""The torch rows on a CUDA device, when the machine has one (issue 23, item 5): the generated modules in float32,
bfloat16 and float16 against the hand-written ones (float32, channels last, and under torch.autocast in the same
type), forward at batch 16 and 128, and the float32 training step.

    .venv/bin/python -m benchmarks.run --only cuda      (part of `make bench`)

Nothing depends on a GPU: without one the section has one row saying it was not run. Every timed call ends with
torch.cuda.synchronize, so a time is the device's work and not only its launch. Weights are copied from the
hand-written module into the generated ones, and each output compared with the hand-written float32 one (top-1 on
the batch) before timing. The quick run (the suite's smoke test) runs the same code on the CPU at batch 2.
"""

from __future__ import annotations

import torch

from benchmarks.harness import Timing, interleaved, ratio
from benchmarks.precision import autocast_call, low_precision_twin
from benchmarks.record import Row
from benchmarks.torch_model import _infer, _train_step, careful_model, paper_models, torchvision_models

FORWARD, TRAINING = "Forward (CUDA)", "Training step (CUDA)"
LAYOUTS = {"torchvision layout": ("alexnet_torchvision.yaml", torchvision_models, 224),
           "paper model": ("alexnet.yaml", paper_models, 227)}
LOW = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def run(quick: bool = False) -> list[Row]:
    if not quick and not torch.cuda.is_available():
        return [Row(FORWARD, "no CUDA device on this machine: not run", None, None, None,
                    note="torch.cuda.is_available() is False; the rows above are the CPU's")]
    device = torch.device("cuda" if torch.cuda.is_available() and not quick else "cpu")
    batches, repetitions, warmup = ((2,), 1, 0) if quick else ((16, 128), 7, 3)
    rows = []
    for label, (spec, make_pair, size) in list(LAYOUTS.items())[:1 if quick else None]:
        ours, theirs = make_pair()
        careful = careful_model(label, ours, theirs)
        models = {"ours": ours, "theirs": theirs, "careful": careful}
        models.update({precision: low_precision_twin(spec, ours, precision) for precision in LOW})
        for model in models.values():
            model.to(device).eval()
        for batch in batches:
            x = torch.randn(batch, 3, size, size, device=device)
            rows += _forward(label, models, x, device, repetitions, warmup)
        x, labels = torch.randn(16, 3, size, size, device=device), torch.randint(0, 1000, (16,), device=device)
        if quick:
            x, labels = x[:2], labels[:2]
        rows.append(_training(label, models, x, labels, device, repetitions, warmup))
    return rows


def _forward(label: str, models: dict, x: torch.Tensor, device, repetitions: int, warmup: int) -> list[Row]:
    with torch.no_grad():
        reference = models["theirs"](x).argmax(1)
        agreement = {name: (models[name](x).float().argmax(1) == reference).float().mean().item() for name in LOW}
    calls = {name: _infer(model, x) for name, model in models.items()}
    calls.update({f"autocast {name}": autocast_call(models["theirs"], x, dtype) for name, dtype in LOW.items()})
    timings = interleaved({name: _synchronized(call, device) for name, call in calls.items()},
                          repetitions=repetitions, warmup=warmup)
    what = f"{label}, batch {x.shape[0]}, {device.type}"
    rows = [_row(FORWARD, f"{what}: generated float32 vs hand-written", timings, "ours", "theirs"),
            _row(FORWARD, f"{what}: generated float32 vs hand-written channels_last", timings, "ours", "careful")]
    for name in LOW:
        note = f"; top-1 agreement with float32 {agreement[name]:.0%}"
        rows += [_row(FORWARD, f"{what}: generated {name} vs hand-written under torch.autocast({name})", timings,
                      name, f"autocast {name}", note),
                 _row(FORWARD, f"{what}: generated {name} vs hand-written float32", timings, name, "theirs", note)]
    return rows


def _training(label: str, models: dict, x, labels, device, repetitions: int, warmup: int) -> Row:
    for name in ("ours", "theirs"):
        models[name].train()
    timings = interleaved({name: _synchronized(_train_step(models[name], x, labels), device)
                           for name in ("ours", "theirs")}, repetitions=repetitions, warmup=warmup)
    return _row(TRAINING, f"{label}, batch {x.shape[0]}, {device.type}: generated float32 vs hand-written, forward "
                "+ backward + SGD step", timings, "ours", "theirs")


def _row(section: str, name: str, timings: dict[str, Timing], ours: str, theirs: str, note: str = "") -> Row:
    speedup = ratio(timings[theirs], timings[ours])
    return Row(section, name, timings[ours], None, None, ratio=speedup,
               value=f"{speedup:.2f}× ({timings[ours].describe()})",
               note=f"hand-written {timings[theirs].describe()}{note}; reported")


def _synchronized(call, device):
    if device.type != "cuda":
        return call

    def synchronized():
        call()
        torch.cuda.synchronize(device)
    return synchronized


def main() -> None:
    from benchmarks import record

    print(record.markdown(run(), "python -m benchmarks.cuda", record.machine(), None))


if __name__ == "__main__":
    main()
