"""JAX: the jitted forward of the generated paper model against the same network written the obvious way in JAX
(feature_group_count convolutions, a reduce_window LRN with `** -0.75`), and its ratio to the torch build.

    .venv/bin/python -m benchmarks.jax_model      (part of `make bench`)
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from alexnet_spec.backends.jax import generated_module
from alexnet_spec.source.loading import load_network
from benchmarks.harness import interleaved, ratio
from benchmarks.record import Row

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = ("NHWC", "HWIO", "NHWC")


def obvious_lrn(x, size=5, alpha=1e-4, beta=0.75, k=2.0, groups=2):
    """What people write: a reduce_window sum of squares over channels, per tower, and a pow."""
    towers = jnp.split(x, groups, axis=-1)
    out = []
    for tower in towers:
        window = lax.reduce_window(tower * tower, 0.0, lax.add, (1, 1, 1, size), (1, 1, 1, 1),
                                   ((0, 0), (0, 0), (0, 0), (size // 2, size // 2)))
        out.append(tower * (k + alpha * window) ** -beta)
    return jnp.concatenate(out, axis=-1)


def obvious_apply(params, x):
    """The paper model, written directly: grouped convolutions through feature_group_count."""
    def conv(x, name, stride, pad, groups):
        y = lax.conv_general_dilated(x, params[name]["kernel"], stride, ((pad, pad), (pad, pad)),
                                     dimension_numbers=NUMBERS, feature_group_count=groups)
        return jax.nn.relu(y + params[name]["bias"])

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")

    x = pool(obvious_lrn(conv(x, "conv1", (4, 4), 0, 1)))
    x = pool(obvious_lrn(conv(x, "conv2", (1, 1), 2, 2)))
    x = conv(conv(x, "conv3", (1, 1), 1, 1), "conv4", (1, 1), 1, 2)
    x = jnp.transpose(pool(conv(x, "conv5", (1, 1), 1, 2)), (0, 3, 1, 2)).reshape(x.shape[0], -1)  # C, H, W order
    for name in ("fc6", "fc7"):
        x = jax.nn.relu(x @ params[name]["kernel"] + params[name]["bias"])
    return jax.nn.softmax(x @ params["fc8"]["kernel"] + params["fc8"]["bias"], axis=-1)


def run(quick: bool = False) -> list[Row]:
    # quick: the same layers on 67×67 images (conv1 15×15 ... pool5 1×1), so the suite can run this file in seconds
    size = 67 if quick else 227
    net = load_network(ROOT / "specs" / "alexnet.yaml", [f"input.height={size}", f"input.width={size}"])
    module = generated_module(net)
    params = jax.jit(module.init)(jax.random.PRNGKey(0))
    generated, obvious = jax.jit(module.apply), jax.jit(obvious_apply)
    rows = []
    for batch in ((1,) if quick else (1, 16)):
        x = jax.random.normal(jax.random.PRNGKey(1), (batch, size, size, 3))
        np.testing.assert_allclose(np.asarray(generated(params, x)), np.asarray(obvious(params, x)), rtol=1e-4,
                                   atol=1e-6)
        candidates = {"generated": lambda: generated(params, x).block_until_ready(),
                      "obvious": lambda: obvious(params, x).block_until_ready()}
        torch_model = None if quick else _torch_build(net)
        if torch_model is not None:
            import torch

            x_torch = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy())

            def torch_forward():
                with torch.no_grad():
                    torch_model(x_torch)

            candidates["torch"] = torch_forward
        timings = interleaved(candidates, repetitions=1 if quick else 7)
        speedup = ratio(timings["obvious"], timings["generated"])
        where = "" if size == 227 else f" at {size}×{size}"
        rows.append(Row("Forward (jax)", f"paper model{where}, batch {batch}, jit: generated vs obvious jax",
                        timings["generated"], ">= 2×", speedup >= 2, ratio=speedup, target_ratio=2.0,
                        value=f"{speedup:.2f}× ({timings['generated'].describe()})",
                        note=f"obvious {timings['obvious'].describe()}"))
        if "torch" in timings:
            rows.append(Row("Forward (jax)", f"paper model, batch {batch}: jax build vs torch build (eager)",
                            timings["generated"], None, None,
                            value=f"{ratio(timings['torch'], timings['generated']):.2f}× the torch build's speed",
                            note=f"torch {timings['torch'].describe()}"))
        if batch == 1 and not quick:
            rows.append(_batch_one_ceiling(module, params, timings))
    return rows + grouped_convolution(module, quick)


def _batch_one_ceiling(module, params, timings) -> Row:
    """The most the generated code can gain at batch 1: the layers it writes exactly as the obvious code does
    (conv1 and conv3, ungrouped; fc6 to fc8, which read 234 MB of float32 weights) take the same time in both, so
    the ratio is at most obvious / (those layers alone), each jitted and timed on its own input."""
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    image, conv3_input, features = (jax.random.normal(keys[0], (1, 227, 227, 3)),
                                    jax.random.normal(keys[1], (1, 13, 13, 256)),
                                    jax.random.normal(keys[2], (1, 9216)))
    conv1 = jax.jit(lambda x: module.conv2d(x, params["conv1"], (4, 4), ((0, 0), (0, 0)), (1, 1), 1))
    conv3 = jax.jit(lambda x: module.conv2d(x, params["conv3"], (1, 1), ((1, 1), (1, 1)), (1, 1), 1))

    @jax.jit
    def dense_layers(x):
        for name in ("fc6", "fc7"):
            x = jax.nn.relu(module.dense(x, params[name]))
        return jax.nn.softmax(module.dense(x, params["fc8"]), axis=-1)

    shared = interleaved({"conv1": lambda: conv1(image).block_until_ready(),
                          "conv3": lambda: conv3(conv3_input).block_until_ready(),
                          "dense": lambda: dense_layers(features).block_until_ready()}, repetitions=7)
    seconds = sum(timing.median for timing in shared.values())
    ceiling = timings["obvious"].median / seconds
    parts = ", ".join(f"{name} {timing.median * 1e3:.3f} ms" for name, timing in shared.items())
    return Row("Forward (jax)", "paper model, batch 1: the ratio's ceiling, obvious / the layers both write alike",
               None, None, None, value=f"{ceiling:.2f}×",
               note=f"{parts} (each jitted alone): {seconds * 1e3:.3f} ms of the generated "
                    f"{timings['generated'].median * 1e3:.3f} ms; reported")


def grouped_convolution(module, quick: bool) -> list[Row]:
    """AlexNet's conv2 (96 -> 256 channels in 2 groups, 5×5, 27×27), jitted: the generated conv2d (one convolution
    per group, concatenated) against one lax.conv_general_dilated with feature_group_count=2."""
    batch, size = (1, 9) if quick else (16, 27)
    keys = jax.random.split(jax.random.PRNGKey(2), 3)
    x = jax.random.normal(keys[0], (batch, size, size, 96))
    params = {"kernel": jax.random.normal(keys[1], (5, 5, 48, 256)), "bias": jax.random.normal(keys[2], (256,))}
    padding = ((2, 2), (2, 2))
    generated = jax.jit(lambda x: module.conv2d(x, params, (1, 1), padding, (1, 1), 2))
    grouped = jax.jit(lambda x: lax.conv_general_dilated(x, params["kernel"], (1, 1), padding, dimension_numbers=NUMBERS,
                                                         feature_group_count=2) + params["bias"])
    np.testing.assert_allclose(np.asarray(generated(x)), np.asarray(grouped(x)), rtol=1e-4, atol=1e-4)
    timings = interleaved({"generated": lambda: generated(x).block_until_ready(),
                           "grouped": lambda: grouped(x).block_until_ready()}, repetitions=1 if quick else 7)
    speedup = ratio(timings["grouped"], timings["generated"])
    return [Row("Forward (jax)", f"conv2 (2 groups, {size}×{size}), batch {batch}, jit: per-group convolutions (generated) vs "
                                 "feature_group_count", timings["generated"], None, None, ratio=speedup,
                value=f"{speedup:.2f}× ({timings['generated'].describe()})",
                note=f"feature_group_count {timings['grouped'].describe()}")]


def _torch_build(net):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    from alexnet_spec.backends.torch import backend

    return backend.build(net).eval()


if __name__ == "__main__":
    from benchmarks import record

    print(record.markdown(run(), "python -m benchmarks.jax_model", record.machine(), None))
