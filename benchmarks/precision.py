"""bfloat16 builds (issue 23): the generated bfloat16 modules against the hand-written float32 ones, run as they are
and under torch.autocast(bfloat16), side by side; the bfloat16 training step (float32 master weights) and JAX's bfloat16 forward reported.

    .venv/bin/python -m benchmarks.run --only precision      (2 threads; part of `make bench`)

Weights are copied from the hand-written module into both generated ones; the bfloat16 output is compared with the
float32 one (top-1 on the batch) before timing. Medians of interleaved repetitions, batch 16.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import torch

from alexnet_spec.backends.jax import generated_module
from alexnet_spec.backends.torch import backend
from alexnet_spec.precision import with_precision
from alexnet_spec.source.loading import load_network
from benchmarks.harness import interleaved, ratio
from benchmarks.record import Row
from benchmarks.torch_model import ROOT, _infer, _train_step, paper_models, torchvision_models

BATCH = 16
AUTOCAST_TARGET, FLOAT32_TARGET = 2.0, 3.0  # issue 23: on a CPU with bfloat16 matrix units


def autocast_call(model, x, dtype=torch.bfloat16):
    """model(x) under torch.autocast in `dtype`, on x's device, without gradients."""
    def call():
        with torch.no_grad(), torch.autocast(x.device.type, dtype=dtype):
            model(x)
    return call


def low_precision_twin(spec: str, ours, precision: str = "bfloat16") -> torch.nn.Module:
    """The spec generated in `precision`, holding `ours`' weights (rounded into that type on loading)."""
    with contextlib.chdir(ROOT):
        twin = backend.build(with_precision(load_network(f"specs/{spec}"), precision))
    twin.load_state_dict(ours.state_dict())
    return twin


def _trainer(spec: str, ours):
    """The training backend's Trainer (alexnet_spec/training's loop steps it) on the spec generated in bfloat16,
    starting from `ours`' weights: the optimizer steps float32 masters."""
    from alexnet_spec.logits import as_logits
    from alexnet_spec.training.optimizers import optimizer_settings

    with contextlib.chdir(ROOT):
        net = as_logits(with_precision(load_network(f"specs/{spec}"), "bfloat16"))
    weights = {name: value.detach().numpy() for name, value in ours.state_dict().items()}
    return backend.trainer(net, weights, settings=optimizer_settings("sgd"), threads=2)


def run(quick: bool = False) -> list[Row]:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    # quick (the suite's smoke run): one layout, no warm-up, and LeNet-5 for JAX, so that the code runs cheaply
    repetitions, warmup, batch = (1, 0, 2) if quick else (7, 2, BATCH)
    rows = []
    pairs = {"torchvision layout": ("alexnet_torchvision.yaml", torchvision_models(), 224)}
    if not quick:
        pairs["paper model"] = ("alexnet.yaml", paper_models(), 227)
    for label, (spec, (ours, theirs), size) in pairs.items():
        low = low_precision_twin(spec, ours)
        low.eval(), theirs.eval()
        x = torch.randn(batch, 3, size, size)
        with torch.no_grad():
            agreement = (low(x).float().argmax(1) == theirs(x).argmax(1)).float().mean().item()
        timings = interleaved({"ours": _infer(low, x), "float32": _infer(theirs, x),
                               "autocast": autocast_call(theirs, x)}, repetitions=repetitions, warmup=warmup)
        for baseline, target in (("autocast", AUTOCAST_TARGET), ("float32", FLOAT32_TARGET)):
            speedup = ratio(timings[baseline], timings["ours"])
            what = "under torch.autocast(bfloat16)" if baseline == "autocast" else "in float32"
            rows.append(Row("Forward, bfloat16 (torch)", f"{label}, batch {batch}, eager: generated bfloat16 vs "
                            f"hand-written {what}", timings["ours"], f">= {target}×", speedup >= target,
                            ratio=speedup, target_ratio=target,
                            value=f"{speedup:.2f}× ({timings['ours'].describe()})",
                            note=f"hand-written {timings[baseline].describe()}; top-1 agreement with float32 "
                                 f"{agreement:.0%}"))
        trainer = _trainer(spec, ours)
        images, labels = x.numpy(), np.random.default_rng(0).integers(0, 1000, batch)
        train_steps = iter(range(1_000_000))
        theirs.train()
        timings = interleaved({"ours": lambda: trainer.step(images, labels, 1e-3, next(train_steps)),
                               "float32": _train_step(theirs, x, torch.from_numpy(labels))},
                              repetitions=repetitions, warmup=warmup)
        speedup = ratio(timings["float32"], timings["ours"])
        rows.append(Row("Training step, bfloat16 (torch)", f"{label}, batch {batch}: generated bfloat16 with float32 "
                        "master weights vs hand-written float32, forward + backward + SGD", timings["ours"], None,
                        None, ratio=speedup, value=f"{speedup:.2f}× ({timings['ours'].describe()})",
                        note=f"hand-written {timings['float32'].describe()}; reported"))
    rows.append(_jax_row(batch, repetitions, warmup, "lenet5.yaml" if quick else "alexnet.yaml"))
    sections = list(dict.fromkeys(row.section for row in rows))  # each section's rows together in the record
    return sorted(rows, key=lambda row: sections.index(row.section))


def _jax_row(batch: int, repetitions: int, warmup: int, spec: str) -> Row:
    """The spec's generated JAX module (the paper model), jitted, bfloat16 against float32."""
    net = load_network(ROOT / "specs" / spec)
    modules = {"float32": generated_module(net), "bfloat16": generated_module(with_precision(net, "bfloat16"))}
    channels, height, width = net.input_shape
    x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, height, width, channels)), jnp.float32)
    calls = {}
    for name, module in modules.items():
        # init jitted: one compilation instead of one per parameter shape, eagerly
        params, apply = jax.jit(module.init)(jax.random.PRNGKey(0)), jax.jit(module.apply)
        calls[name] = (lambda apply, params: lambda: apply(params, x).block_until_ready())(apply, params)
    timings = interleaved(calls, repetitions=repetitions, warmup=max(warmup, 1))  # the first call compiles
    speedup = ratio(timings["float32"], timings["bfloat16"])
    label = "paper model" if spec == "alexnet.yaml" else spec
    return Row("Forward, bfloat16 (jax)", f"{label}, batch {batch}, jit: generated bfloat16 vs generated float32",
               timings["bfloat16"], None, None, ratio=speedup,
               value=f"{speedup:.2f}× ({timings['bfloat16'].describe()})",
               note=f"float32 {timings['float32'].describe()}; reported")


def main() -> None:
    from benchmarks import record

    rows = record.judge(run())
    print(record.markdown(rows, "python -m benchmarks.precision", record.machine(), None))


if __name__ == "__main__":
    main()
