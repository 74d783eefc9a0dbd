"""The JAX backend on graph networks: each new layer kind against torch.nn.functional on the same input, a residual
and a fire block against a reference written here with torch's functional ops (float64), nested params and state,
block functions shared between instances, several outputs, qualified weight names, and `evaluate` through the
nested functions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from alexnet_spec import backends
from alexnet_spec.source.loading import load_network
from alexnet_spec.backends.jax.weights import canonical_to_flat, jax_file_to_torch, jax_to_torch, torch_to_jax
from alexnet_spec.weights import init_weights
from tests.backends.test_source import LINT, unused_definitions
from tests.conftest import resolve_text

jax = pytest.importorskip("jax", reason="the jax backend needs the [jax] extra")
torch = pytest.importorskip("torch")
F = torch.nn.functional
jnp = jax.numpy
BACKEND = backends.get("jax")

# /tmp/g/res.yaml of issue 19: a tiny ResNet, a `basic` block in rows, the shortcut's conv left out by `when`.
RESIDUAL = """
    name: TinyRes
    input: {channels: 3, height: 16, width: 16}
    allow_truncation: true
    blocks:
      basic:
        params: {channels: null, stride: 1, downsample: false}
        layers:
          - {type: conv, name: conv1, out_channels: $channels, kernel: 3, stride: $stride, padding: 1, bias: false}
          - {type: batchnorm, name: bn1}
          - {type: relu, name: relu1}
          - {type: conv, name: conv2, out_channels: $channels, kernel: 3, padding: 1, bias: false}
          - {type: batchnorm, name: bn2}
          - {type: conv, name: down_conv, inputs: [input], out_channels: $channels, kernel: 1, stride: $stride,
             bias: false, when: $downsample}
          - {type: batchnorm, name: down_bn, when: $downsample}
          - {type: add, name: add, inputs: [bn2, down_bn]}
          - {type: relu, name: relu2}
    layers:
      - {type: conv, name: stem, out_channels: 8, kernel: 3, padding: 1}
      - {type: block, block: basic, name: layer1, repeat: 2, args: {channels: 8}}
      - {type: block, block: basic, name: layer2, repeat: 2, args: {channels: 16}, first: {stride: 2, downsample: true}}
      - {type: global_avgpool, name: pool}
      - {type: dense, name: fc, out_features: 10}
"""

# /tmp/g/base.yaml: a SqueezeNet-like `fire` block (squeeze, two expands, concat) and a residual add around it.
FIRE = """
    name: G
    input: {channels: 3, height: 8, width: 8}
    blocks:
      fire:
        params: {squeeze: null, expand: null}
        layers:
          - {type: conv, name: squeeze, out_channels: $squeeze, kernel: 1, activation: relu}
          - {type: conv, name: expand1x1, out_channels: $expand, kernel: 1, activation: relu}
          - {type: conv, name: expand3x3, inputs: [squeeze], out_channels: $expand, kernel: 3, padding: 1,
             activation: relu}
          - {type: concat, name: out, inputs: [expand1x1, expand3x3]}
    layers:
      - {type: conv, name: c1, out_channels: 4, kernel: 3, padding: 1}
      - {type: block, block: fire, name: fire2, args: {squeeze: 2, expand: 4}}
      - {type: conv, name: c2, out_channels: 4, kernel: 3, padding: 1}
      - {type: add, name: a, inputs: [c2, c1]}
      - {type: flatten}
"""


def _weights(net, seed=0):
    """Canonical weights with batchnorm affine parameters and running statistics that are not the identity."""
    rng = np.random.default_rng(seed)
    weights = init_weights(net, rng)
    for name, value in weights.items():
        if name.endswith("running_var"):
            weights[name] = rng.uniform(0.5, 2.0, value.shape)
        elif name.endswith(("running_mean", "bn1.bias", "bn2.bias", "down_bn.bias")):
            weights[name] = rng.normal(0.0, 0.5, value.shape)
        elif name.endswith(("bn1.weight", "bn2.weight", "down_bn.weight")):
            weights[name] = rng.uniform(0.5, 1.5, value.shape)
    return weights


def _apply(net, weights, x, train=False, key=None, jit=True):
    """The generated module's output on NCHW x, in float64, back in NCHW (maps) or (N, F). Jitted, one compilation
    is faster than op by op; not jitted, the ops compiled for the residual network's other tests are reused."""
    with jax.enable_x64(True):
        params, state = torch_to_jax(weights, net)
        apply = BACKEND.build(net).apply
        apply = jax.jit(apply, static_argnames=("train", "layout")) if jit else apply
        y = apply(params, jnp.asarray(x), layout="NCHW", state=state or None, train=train, key=key)
        return jax.tree_util.tree_map(lambda v: _nchw(np.asarray(v)), y)


def _nchw(value):
    return value.transpose(0, 3, 1, 2) if value.ndim == 4 else value


def _t(weights):
    return {name: torch.from_numpy(value) for name, value in weights.items()}


# ---------------------------------------------------------------- each new op, against torch.nn.functional

# Each new layer kind, read from the input as a branch of one network, against torch's definition on the same input.
NEW_KINDS = {
    "leaky": ("{type: leaky_relu, negative_slope: 0.2}", lambda x, w: F.leaky_relu(x, 0.2)),
    "elu": ("{type: elu, alpha: 0.7}", lambda x, w: F.elu(x, 0.7)),
    "gelu": ("{type: gelu}", lambda x, w: F.gelu(x)),
    "gelu_tanh": ("{type: gelu, approximate: tanh}", lambda x, w: F.gelu(x, approximate="tanh")),
    "silu": ("{type: silu}", lambda x, w: F.silu(x)),
    "prelu": ("{type: prelu}", lambda x, w: F.prelu(x, w["prelu.weight"])),
    "prelus": ("{type: prelu, per_channel: true}", lambda x, w: F.prelu(x, w["prelus.weight"])),
    "avg": ("{type: global_avgpool}", lambda x, w: x.mean(dim=(2, 3))),
    "max": ("{type: global_maxpool}", lambda x, w: x.amax(dim=(2, 3))),
}


@pytest.mark.parametrize("features", [False, True], ids=["maps", "features"])
def test_each_new_layer_kind_equals_torch_functional(features):
    kinds = {name: kind for name, kind in NEW_KINDS.items() if not (features and name in ("avg", "max"))}
    source = "flat" if features else "input"
    layers = ["{type: flatten, name: flat}"] if features else []
    layers += [f"{{{text[1:-1]}, name: {name}, inputs: [{source}]}}" for name, (text, _) in kinds.items()]
    net = resolve_text(f"""
        name: Kinds
        input: {{channels: 3, height: 5, width: 4}}
        layers: [{", ".join(layers)}]
        outputs: [{", ".join(kinds)}]
    """)
    rng = np.random.default_rng(7)
    weights = {name: rng.uniform(0.05, 0.6, value.shape) for name, value in init_weights(net, rng).items()}
    assert weights["prelus.weight"].shape == ((60,) if features else (3,))
    x = rng.standard_normal((2, 3, 5, 4)) * 2
    t = torch.flatten(torch.from_numpy(x), 1) if features else torch.from_numpy(x)
    for (name, (_, reference)), y in zip(kinds.items(), _apply(net, weights, x)):
        np.testing.assert_allclose(y, reference(t, _t(weights)).numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("features", [False, True], ids=["channels", "features"])
def test_concat_and_add_equal_torch_cat_and_sum(features):
    kind = "{type: dense, out_features: %d" if features else "{type: conv, kernel: 1, out_channels: %d"
    net = resolve_text(f"""
        name: Merge
        input: {{channels: 3, height: 5, width: 4}}
        layers:
          {"- {type: flatten, name: f}" if features else "- {type: relu, name: f}"}
          - {kind % 2}, name: a, inputs: [f]}}
          - {kind % 5}, name: b, inputs: [f]}}
          - {kind % 2}, name: c, inputs: [f]}}
          - {{type: concat, name: cat, inputs: [b, a]}}
          - {{type: add, name: sum, inputs: [a, c, a]}}
        outputs: [cat, sum]
    """)
    weights = init_weights(net, 1)
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 4))
    w = _t(weights)
    f = torch.flatten(torch.from_numpy(x), 1) if features else F.relu(torch.from_numpy(x))
    op = F.linear if features else F.conv2d
    a, b, c = (op(f, w[f"{n}.weight"], w[f"{n}.bias"]) for n in "abc")
    cat, total = _apply(net, weights, x)
    np.testing.assert_allclose(cat, torch.cat([b, a], dim=1).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(total, (a + c + a).numpy(), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- blocks, against torch functional references

def _batchnorm(x, w, name, training=False):
    return F.batch_norm(x, w[f"{name}.running_mean"].clone(), w[f"{name}.running_var"].clone(), w[f"{name}.weight"],
                        w[f"{name}.bias"], training=training, momentum=0.1, eps=1e-5)


def residual_reference(x, w):
    """The TinyRes spec, as torchvision's BasicBlock computes it."""
    def basic(x, prefix, stride, downsample):
        y = F.relu(_batchnorm(F.conv2d(x, w[f"{prefix}.conv1.weight"], stride=stride, padding=1), w, f"{prefix}.bn1"))
        y = _batchnorm(F.conv2d(y, w[f"{prefix}.conv2.weight"], padding=1), w, f"{prefix}.bn2")
        if downsample:
            x = _batchnorm(F.conv2d(x, w[f"{prefix}.down_conv.weight"], stride=stride), w, f"{prefix}.down_bn")
        return F.relu(y + x)

    x = F.conv2d(x, w["stem.weight"], w["stem.bias"], padding=1)
    x = basic(basic(x, "layer1.0", 1, False), "layer1.1", 1, False)
    x = basic(basic(x, "layer2.0", 2, True), "layer2.1", 1, False)
    return F.linear(x.mean(dim=(2, 3)), w["fc.weight"], w["fc.bias"])


def fire_reference(x, w):
    """The fire spec, as torchvision's Fire computes it, and the add around it."""
    c1 = F.conv2d(x, w["c1.weight"], w["c1.bias"], padding=1)
    squeeze = F.relu(F.conv2d(c1, w["fire2.squeeze.weight"], w["fire2.squeeze.bias"]))
    fire = torch.cat([F.relu(F.conv2d(squeeze, w["fire2.expand1x1.weight"], w["fire2.expand1x1.bias"])),
                      F.relu(F.conv2d(squeeze, w["fire2.expand3x3.weight"], w["fire2.expand3x3.bias"], padding=1))], 1)
    return torch.flatten(F.conv2d(fire, w["c2.weight"], w["c2.bias"], padding=1) + c1, 1)


@pytest.mark.parametrize("spec, reference", [(RESIDUAL, residual_reference), (FIRE, fire_reference)],
                         ids=["residual", "fire"])
def test_blocks_equal_a_torch_functional_reference(spec, reference):
    net = resolve_text(spec)
    weights = _weights(net)
    x = np.random.default_rng(4).standard_normal((2,) + net.input_shape)
    expected = reference(torch.from_numpy(x), _t(weights)).numpy()
    np.testing.assert_allclose(_apply(net, weights, x, jit=False), expected, rtol=1e-10, atol=1e-12)


def test_training_updates_the_nested_batchnorm_state_as_torch_does():
    net = resolve_text(RESIDUAL)
    weights = _weights(net)
    x = np.random.default_rng(5).standard_normal((2,) + net.input_shape)
    with jax.enable_x64(True):
        params, state = torch_to_jax(weights, net)
        y, new_state = BACKEND.build(net).apply(params, jnp.asarray(x), layout="NCHW", state=state, train=True)
        assert set(new_state) == {"layer1", "layer2"} and set(new_state["layer2"]["0"]) == {"bn1", "bn2", "down_bn"}
        updated = jax_to_torch(params, net, new_state)
    w = _t(weights)
    stem = F.conv2d(torch.from_numpy(x), w["stem.weight"], w["stem.bias"], padding=1)
    conv1 = F.conv2d(stem, w["layer1.0.conv1.weight"], padding=1)
    mean, var = w["layer1.0.bn1.running_mean"].clone(), w["layer1.0.bn1.running_var"].clone()
    F.batch_norm(conv1, mean, var, training=True, momentum=0.1, eps=1e-5)  # updates mean and var in place
    np.testing.assert_allclose(updated["layer1.0.bn1.running_mean"], mean.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(updated["layer1.0.bn1.running_var"], var.numpy(), rtol=1e-12, atol=1e-14)
    assert np.asarray(y).shape == (2, 10)


def test_evaluate_names_every_layer_inside_the_instances():
    """`alexspec check`'s per-layer outputs come from the nested functions, keyed by qualified name: a layer of a
    shared function (layer1.1's) is told apart from the same line run for another instance (layer1.0's)."""
    net = resolve_text(RESIDUAL)
    weights = _weights(net)
    x = np.random.default_rng(6).standard_normal((2,) + net.input_shape)
    outputs = dict(BACKEND.evaluate(net, weights, x, dtype="float64"))
    assert list(outputs) == [layer.name for layer in net.layers]
    w, t = _t(weights), torch.from_numpy(x)
    stem = F.conv2d(t, w["stem.weight"], w["stem.bias"], padding=1)
    np.testing.assert_allclose(outputs["stem"], stem.numpy(), rtol=1e-12, atol=1e-14)
    first = F.conv2d(stem, w["layer1.0.conv1.weight"], padding=1)
    np.testing.assert_allclose(outputs["layer1.0.conv1"], first.numpy(), rtol=1e-12, atol=1e-14)
    assert not np.allclose(outputs["layer1.1.conv1"], outputs["layer1.0.conv1"])
    down = _batchnorm(F.conv2d(torch.from_numpy(outputs["layer1.1.relu2"].copy()), w["layer2.0.down_conv.weight"], stride=2),
                      w, "layer2.0.down_bn")
    np.testing.assert_allclose(outputs["layer2.0.down_bn"], down.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(outputs["fc"], residual_reference(t, w).numpy(), rtol=1e-10, atol=1e-12)
    fire = resolve_text(FIRE)
    fire_outputs = dict(BACKEND.evaluate(fire, _weights(fire), np.ones((1, 3, 8, 8)), dtype="float64"))
    assert fire_outputs["fire2.out"].shape == (1, 8, 8, 8)


# ---------------------------------------------------------------- the generated module

def test_instances_alike_share_one_function_named_after_the_block():
    source = BACKEND.render(resolve_text(RESIDUAL))
    # layer1's two instances are alike; layer2.0 downsamples; layer2.1 has 16 channels where layer1's have 8
    assert 'x, new_state["layer1"]["0"] = Basic(params["layer1"]["0"], x, state["layer1"]["0"], train)' in source
    assert 'x, new_state["layer1"]["1"] = Basic(params["layer1"]["1"], x, state["layer1"]["1"], train)' in source
    assert "= Basic2(params[\"layer2\"][\"0\"]" in source and "= Basic3(params[\"layer2\"][\"1\"]" in source
    assert '"""Block `basic`, as layer1.0, layer1.1 (channels=8, stride=1, downsample=False).' in source
    assert source.count("def Basic") == 3
    # the block's input is read twice (conv1 and the add): kept, under a name that is not the builtin `input`
    assert "    input_1 = x\n" in source and "x = x + input_1" in source


def test_init_and_init_state_have_the_nesting_of_the_transferred_weights():
    net = resolve_text(RESIDUAL)
    module = BACKEND.build(net)
    params, state = torch_to_jax(_weights(net), net)
    shapes = jax.tree_util.tree_map(lambda leaf: leaf.shape, jax.eval_shape(module.init, jax.random.PRNGKey(0)))
    assert shapes == jax.tree_util.tree_map(lambda leaf: leaf.shape, params)
    assert jax.tree_util.tree_map(lambda leaf: leaf.shape, module.init_state()) == \
        jax.tree_util.tree_map(lambda leaf: leaf.shape, state)
    assert params["layer2"]["0"]["down_conv"]["kernel"].shape == (1, 1, 8, 16)


def test_weight_conversion_round_trips_with_qualified_names():
    net = resolve_text(RESIDUAL)
    weights = _weights(net)
    params, state = torch_to_jax(weights, net)
    back = jax_to_torch(params, net, state)
    assert list(back) == list(weights)
    for name, value in weights.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)
    flat = canonical_to_flat(weights, net, "w")
    assert "layer2/0/down_conv/kernel" in flat and "layer1/1/bn2/var" in flat
    again = jax_file_to_torch(flat, net, "params.npz")
    assert all(np.array_equal(again[name], value) for name, value in weights.items())
    from alexnet_spec.errors import SpecError

    with pytest.raises(SpecError, match="missing weight 'layer2/0/down_bn/scale'"):
        del params["layer2"]["0"]["down_bn"]["scale"]
        jax_to_torch(params, net, state)


SEVERAL = """
    name: Heads
    input: {channels: 2, height: 6, width: 5}
    blocks:
      head:
        params: {width: null}
        layers:
          - {type: global_maxpool}
          - {type: dropout, p: 0.5}
          - {type: dense, out_features: $width}
    layers:
      - {type: conv, name: conv, out_channels: 4, kernel: 3}
      - {type: batchnorm, name: bn}
      - {type: prelu, name: act, per_channel: true}
      - {type: block, block: head, name: aux, args: {width: 3}, inputs: [conv]}
      - {type: block, block: head, name: main, args: {width: 5}, inputs: [act]}
    outputs: [main, aux]
"""


def test_several_outputs_dropout_keys_and_state_through_blocks():
    net = resolve_text(SEVERAL)
    weights = _weights(net)
    xs = np.random.default_rng(8).standard_normal((3,) + net.input_shape)
    w, t = _t(weights), torch.from_numpy(xs)
    conv = F.conv2d(t, w["conv.weight"], w["conv.bias"])
    act = F.prelu(_batchnorm(conv, w, "bn"), w["act.weight"])
    main, aux = _apply(net, weights, xs)
    np.testing.assert_allclose(main, F.linear(act.amax(dim=(2, 3)), w["main.fc1.weight"], w["main.fc1.bias"]),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(aux, F.linear(conv.amax(dim=(2, 3)), w["aux.fc1.weight"], w["aux.fc1.bias"]),
                               rtol=1e-12, atol=1e-14)
    (main, aux), state = _apply(net, weights, xs, train=True, key=jax.random.PRNGKey(1))
    assert main.shape == (3, 5) and aux.shape == (3, 3) and set(state) == {"bn"}
    with pytest.raises(ValueError, match="needs `key`"):
        BACKEND.build(net).apply(torch_to_jax(weights, net)[0], jnp.asarray(xs), layout="NCHW", train=True)
    source = BACKEND.render(net)
    # each instance gets its own key from apply's, and splits it for its own dropout layer
    assert "drop_keys = dict(zip(['aux', 'main'], jax.random.split(key, 2))) if train else {}" in source
    assert 'x = Head2(params["main"], act, train, drop_keys.get("main"))' in source
    assert "drop_keys = dict(zip(['drop1'], jax.random.split(key, 1))) if train else {}" in source


def test_generated_graph_modules_pass_ruff_and_define_only_what_they_use(tmp_path):
    pytest.importorskip("ruff")
    for name, spec in {"residual": RESIDUAL, "fire": FIRE, "several": SEVERAL, "clash": CLASH}.items():
        source = BACKEND.render(resolve_text(spec))
        assert unused_definitions(source) == [], name
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "ruff", *LINT, str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_placed_residual_network_on_two_devices_equals_the_single_device_build(tmp_path):
    """Split layers inside block instances: their kernels sharded (nested params paths), their outputs placed by the
    block functions, which take the Mesh; the placed build computes the torch reference's function (float32)."""
    import os
    import textwrap

    from tests.conftest import ROOT, spec_text

    spec = tmp_path / "placed.yaml"
    spec.write_text(spec_text(RESIDUAL).replace("name: TinyRes\n", "name: TinyRes\ndevices: [gpu0, gpu1]\n"))
    net = load_network(spec)
    weights = _weights(net)
    params, state = torch_to_jax(weights, net)
    x = np.random.default_rng(9).standard_normal((2,) + net.input_shape)
    np.savez(tmp_path / "inputs.npz", x=x, **canonical_to_flat(weights, net, "weights"))
    script = textwrap.dedent(f"""
        import jax, numpy as np, alexnet_spec.backends
        from alexnet_spec.backends.jax.weights import jax_file_to_torch, torch_to_jax
        from alexnet_spec.source.loading import load_network
        net = load_network({str(spec)!r})
        arrays = dict(np.load({str(tmp_path / "inputs.npz")!r}))
        x = arrays.pop("x")
        params, state = torch_to_jax(jax_file_to_torch(arrays, net, "npz"), net)
        placed = alexnet_spec.backends.get("jax").build(net, devices=["cpu:0", "cpu:1"])
        sharded = placed.shard(params)
        assert len(sharded["layer2"]["0"]["conv1"]["kernel"].sharding.device_set) == 2
        y = placed.apply(sharded, x.astype(np.float32), state=state, layout="NCHW")
        np.save({str(tmp_path / "y.npy")!r}, np.asarray(y))
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = residual_reference(torch.from_numpy(x), _t(weights)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-4, atol=1e-5)
    source = BACKEND.render(load_network(spec))
    assert 'Basic(params["layer1"]["0"], x, state["layer1"]["0"], train, mesh)' in source
    assert "    x = place(x, mesh, split=True)  " in source.split("def Basic(")[1].split("def Basic2(")[0]


CLASH = """
    name: Clash
    input: {channels: 2, height: 5, width: 3}
    blocks:
      zip:
        layers:
          - {type: conv, name: dense, out_channels: 2, kernel: 1}
          - {type: relu, name: mesh}
          - {type: add, name: new_state, inputs: [mesh, dense, input]}
    layers:
      - {type: conv, name: conv2d, out_channels: 2, kernel: 1}
      - {type: block, block: zip, name: place}
      - {type: add, name: drop_keys, inputs: [place, conv2d]}
"""


def test_kept_values_never_take_the_modules_own_names():
    """Layers named after the module's helpers (dense, conv2d, place) and variables (mesh, new_state, drop_keys),
    and a block named after a builtin (zip): kept values get other names, so the helpers stay callable."""
    net = resolve_text(CLASH)
    source = BACKEND.render(net)
    assert "conv2d_1 = conv2d(x, " in source and "dense_1 = conv2d(input_1, " in source and "def Zip(" in source
    weights = init_weights(net, 3)
    x = np.random.default_rng(3).standard_normal((2,) + net.input_shape)
    w, t = _t(weights), torch.from_numpy(x)
    outer = F.conv2d(t, w["conv2d.weight"], w["conv2d.bias"])
    inner = F.conv2d(outer, w["place.dense.weight"], w["place.dense.bias"])
    expected = F.relu(inner) + inner + outer + outer
    np.testing.assert_allclose(_apply(net, weights, x), expected.numpy(), rtol=1e-12, atol=1e-14)
