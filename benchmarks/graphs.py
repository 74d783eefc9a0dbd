"""Graph networks: ResNet-18 generated against ResNet-18 written by hand, in torch and in JAX, and `validate` of a
10,000-layer graph made by block expansion.

    .venv/bin/python -m benchmarks.run --only graphs      (2 threads; part of `make bench`)

- torch, eager, batch 1 and 16: the generated module (specs/resnet18.yaml) against torchvision's way of writing it
  (tests/references/resnet.py: BasicBlock, _make_layer), with the same weights copied by name;
- JAX, jitted: the generated module against ResNet-18 written as a JAX user writes it (a conv_bn helper, a basic
  block function, a loop over the four stages), on the same params and batchnorm statistics;
- validate (read, check, resolve) of a spec whose 10,000 layers come from one residual block repeated.
Inference (eval mode, running statistics). Outputs are compared before timing.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from alexnet_spec.source.loading import load_network, parse_network
from benchmarks.harness import interleaved, ratio
from benchmarks.record import Row

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet18.yaml"
TORCH_TARGET, JAX_TARGET = 1.0, 1.5
GRAPH_LAYERS, GRAPH_TARGET_SECONDS = 10000, 2.0
STAGES = (("layer1", 1), ("layer2", 2), ("layer3", 2), ("layer4", 2))  # (name, stride of its first block)


def run(quick: bool = False) -> list[Row]:
    # quick: 32×32 images (conv1 16×16 ... layer4 1×1), batch 1, one repetition
    size, batches, repetitions = (32, (1,), 1) if quick else (224, (1, 16), 7)
    overrides = [f"input.height={size}", f"input.width={size}"]
    net = load_network(SPEC, overrides)
    return torch_rows(net, size, batches, repetitions) + jax_rows(net, size, batches, repetitions) + \
        graph_validate_rows(quick)


def torch_rows(net, size: int, batches: tuple[int, ...], repetitions: int) -> list[Row]:
    import torch
    from alexnet_spec.backends.torch import backend

    from tests.references import resnet

    torch.set_num_threads(2)
    torch.manual_seed(0)
    theirs = resnet.ResNet18().eval()
    with torch.no_grad():  # running statistics away from (0, 1), so the comparison sees them
        for name, buffer in theirs.named_buffers():
            if name.endswith("running_mean"):
                buffer.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
    with contextlib.chdir(ROOT):
        ours = backend.build(net).eval()
    reference_state = theirs.state_dict()
    ours.load_state_dict({name: reference_state[resnet.NAMES(name)] for name in ours.state_dict()})
    rows = []
    for batch in batches:
        x = torch.randn(batch, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-4)
        timings = interleaved({"ours": _no_grad(ours, x), "theirs": _no_grad(theirs, x)}, repetitions=repetitions)
        speedup = ratio(timings["theirs"], timings["ours"])
        rows.append(Row("ResNet-18 (torch)", f"ResNet-18, batch {batch}, eager: generated vs torchvision-style",
                        timings["ours"], f">= {TORCH_TARGET}×", speedup >= TORCH_TARGET, ratio=speedup,
                        target_ratio=TORCH_TARGET, value=f"{speedup:.2f}× ({timings['ours'].describe()})",
                        flops=2.0 * net.total_macs * batch, note=f"hand-written {timings['theirs'].describe()}"))
    return rows


def _no_grad(model, x):
    import torch

    def call():
        with torch.no_grad():
            model(x)
    return call


def jax_rows(net, size: int, batches: tuple[int, ...], repetitions: int) -> list[Row]:
    import jax
    import numpy as np
    from alexnet_spec.backends.jax import generated_module

    module = generated_module(net)
    rng = np.random.default_rng(0)  # drawn in NumPy from the shapes init declares: nothing to compile but the models
    params = _random_tree(jax.eval_shape(module.init, jax.random.PRNGKey(0)), rng)
    state = _random_tree(jax.eval_shape(module.init_state), rng)
    generated = jax.jit(lambda params, x: module.apply(params, x, state=state))
    obvious = jax.jit(lambda params, x: obvious_resnet18(params, state, x))
    rows = []
    for batch in batches:
        x = rng.standard_normal((batch, size, size, 3), dtype=np.float32)
        np.testing.assert_allclose(np.asarray(generated(params, x)), np.asarray(obvious(params, x)), rtol=1e-4,
                                   atol=1e-4)
        timings = interleaved({"generated": lambda x=x: generated(params, x).block_until_ready(),
                               "obvious": lambda x=x: obvious(params, x).block_until_ready()}, repetitions=repetitions)
        speedup = ratio(timings["obvious"], timings["generated"])
        judged = batch == 16
        rows.append(Row("ResNet-18 (jax)", f"ResNet-18, batch {batch}, jit: generated vs obvious jax",
                        timings["generated"], f">= {JAX_TARGET}×" if judged else None,
                        speedup >= JAX_TARGET if judged else None, ratio=speedup,
                        target_ratio=JAX_TARGET if judged else None,
                        value=f"{speedup:.2f}× ({timings['generated'].describe()})",
                        flops=2.0 * net.total_macs * batch, note=f"obvious {timings['obvious'].describe()}"))
    return rows


def _random_tree(shapes, rng):
    """Arrays of the given shapes: He-scaled kernels, batchnorm scales and running variances in [0.5, 1.5), biases
    and running means around 0 (so that every parameter and statistic matters to the output)."""
    import jax
    import numpy as np

    def draw(path, leaf):
        name = path[-1].key
        if name == "kernel":
            fan_in = int(np.prod(leaf.shape[:-1]))
            return (rng.standard_normal(leaf.shape) * (2 / fan_in) ** 0.5).astype(leaf.dtype)
        if name in ("scale", "var"):
            return rng.uniform(0.5, 1.5, leaf.shape).astype(leaf.dtype)
        return (0.1 * rng.standard_normal(leaf.shape)).astype(leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def obvious_resnet18(params, state, x):
    """ResNet-18 on (N, H, W, 3) images, written directly with lax: a conv_bn helper, a basic block, four stages."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv_bn(x, conv, bn, stats, stride, pad):
        y = lax.conv_general_dilated(x, conv["kernel"], (stride, stride), ((pad, pad), (pad, pad)),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return (y - stats["mean"]) / jnp.sqrt(stats["var"] + 1e-5) * bn["scale"] + bn["bias"]

    def basic_block(x, p, s, stride):
        out = jax.nn.relu(conv_bn(x, p["conv1"], p["bn1"], s["bn1"], stride, 1))
        out = conv_bn(out, p["conv2"], p["bn2"], s["bn2"], 1, 1)
        if "downsample" in p:
            down, stats = p["downsample"], s["downsample"]
            x = conv_bn(x, down["conv"], down["bn"], stats["bn"], stride, 0)
        return jax.nn.relu(out + x)

    x = jax.nn.relu(conv_bn(x, params["conv1"], params["bn1"], state["bn1"], 2, 3))
    x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    for stage, stride in STAGES:
        x = basic_block(x, params[stage]["0"], state[stage]["0"], stride)
        x = basic_block(x, params[stage]["1"], state[stage]["1"], 1)
    x = x.mean(axis=(1, 2))
    return x @ params["fc"]["kernel"] + params["fc"]["bias"]


def residual_graph_spec(blocks: int) -> str:
    """`blocks` residual blocks of four layers each (conv, relu, conv, add), written once and repeated."""
    return "\n".join([
        "name: Residual", "input: {channels: 8, height: 8, width: 8}",
        "blocks:", "  residual:", "    layers:",
        "      - {type: conv, name: conv1, out_channels: 8, kernel: 3, padding: 1}",
        "      - {type: relu, name: relu}",
        "      - {type: conv, name: conv2, out_channels: 8, kernel: 3, padding: 1}",
        "      - {type: add, name: add, inputs: [conv2, input]}",
        "layers:", f"  - {{type: block, block: residual, name: stage, repeat: {blocks}}}", ""])


def graph_validate_rows(quick: bool) -> list[Row]:
    layers = 100 if quick else GRAPH_LAYERS  # 10,000: the most limits.py lets a spec expand to
    text = residual_graph_spec(layers // 4)
    assert len(parse_network(text, "residual.yaml").layers) == layers
    timing = interleaved({"validate": lambda: parse_network(text, "residual.yaml")},
                         repetitions=1 if quick else 3, warmup=1)["validate"]
    judged = not quick
    return [Row("Scaling (graphs)", f"validate, {layers:,} layers from one block with repeat", timing,
                f"< {GRAPH_TARGET_SECONDS:g} s" if judged else None,
                timing.median < GRAPH_TARGET_SECONDS if judged else None,
                note="in process: read, expand the blocks, validate, resolve" if judged else "")]


if __name__ == "__main__":
    from benchmarks import record

    print(record.markdown(record.judge(run()), "python -m benchmarks.graphs", record.machine(), None))
