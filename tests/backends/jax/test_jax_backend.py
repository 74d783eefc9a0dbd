"""The JAX backend: generated source, every spec's shapes, the TF LRN example, agreement with torch and the oracle."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from alexnet_spec import backends
from alexnet_spec.errors import SpecError
from alexnet_spec.source.loading import load_network
from alexnet_spec.backends.jax.weights import jax_to_torch, torch_to_jax
from tests.conftest import ROOT, SPEC_FILES, resolve_text, spec_to_run

jax = pytest.importorskip("jax", reason="the jax backend needs the [jax] extra")
jnp = jax.numpy
BACKEND = backends.get("jax")
GOLDEN = ROOT / "tests" / "golden" / "jax" / "alexnet.py"

SMALL = """
    name: Small
    input: {channels: 3, height: 11, width: 9}
    layers:
      - {type: conv, out_channels: 6, kernel: 3, stride: 2, padding: same, groups: 1}
      - {type: lrn, size: 3, alpha: 0.5, beta: 0.75, k: 1, convention: caffe, groups: 2}
      - {type: maxpool, kernel: 2, stride: 2, ceil_mode: true}
      - {type: batchnorm}
      - {type: conv, out_channels: 4, kernel: 1, groups: 2, activation: tanh}
      - {type: flatten}
      - {type: dropout, p: 0.5}
      - {type: dense, out_features: 6, activation: relu}
      - {type: dense, out_features: 3}
"""


def test_golden_source_of_the_paper_model():
    source = BACKEND.render(load_network("specs/alexnet.yaml"))
    compile(source, str(GOLDEN), "exec")
    if os.environ.get("ALEXSPEC_REGENERATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(source)
    expected = GOLDEN.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), source.splitlines(True), "golden", "rendered"))
    assert not diff, f"generated source changed; if intended, run `make golden`\n{diff}"


def test_rendering_never_imports_jax():
    code = ("import sys; from alexnet_spec import compile_source; compile_source('specs/alexnet.yaml', 'jax'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'torch')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_every_spec_runs_jitted_with_the_predicted_shapes_and_torchs_outputs(path):
    torch = pytest.importorskip("torch")
    net = spec_to_run(path)
    module = BACKEND.build(net)
    weights = _canonical(net)
    params, state = torch_to_jax({name: value.astype(np.float32) for name, value in weights.items()}, net)
    # init draws exactly the params that the canonical weights transfer to (shapes and dtypes, not drawn here)
    drawn = jax.eval_shape(module.init, jax.random.PRNGKey(0))
    assert jax.tree_util.tree_map(lambda leaf: (leaf.shape, leaf.dtype), drawn) == \
        jax.tree_util.tree_map(lambda leaf: (leaf.shape, jnp.float32), params)
    x = np.random.default_rng(3).standard_normal((1,) + net.input_shape).astype(np.float32)
    y = np.asarray(jax.jit(module.apply)(params, x.transpose(0, 2, 3, 1), state=state or None))
    assert y.shape == (1,) + net.output_shape
    model = backends.get("torch").build(net).eval()
    model.load_state_dict({name: torch.from_numpy(value.astype(np.float32)) for name, value in weights.items()},
                          strict=False)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def _canonical(net):
    from alexnet_spec.weights import init_weights

    return init_weights(net, np.random.default_rng(0))


def test_tensorflow_lrn_worked_example():
    # tf.nn.lrn(a, 2, 0, 1, 1) on the 1×2×2×8 tensor of source document 000, and its printed output.
    a = np.array([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1],
                  [4, 3, 2, 1, 8, 7, 6, 5], [1, 2, 3, 4, 5, 6, 7, 8]], dtype=np.float32).reshape(1, 2, 2, 8)
    printed = np.array([[0.07142857, 0.06666667, 0.05454545, 0.04444445, 0.03703704, 0.03157895, 0.04022989,
                         0.05369128], [0.05369128, 0.04022989, 0.03157895, 0.03703704, 0.04444445, 0.05454545,
                                       0.06666667, 0.07142857],
                        [0.13793103, 0.10000001, 0.0212766, 0.00787402, 0.05194805, 0.04, 0.03448276, 0.04545454],
                        [0.07142857, 0.06666667, 0.05454545, 0.04444445, 0.03703704, 0.03157895, 0.04022989,
                         0.05369128]]).reshape(1, 2, 2, 8)
    net = resolve_text("""
        name: TFExample
        input: {channels: 8, height: 2, width: 2}
        layers:
          - {type: lrn, depth_radius: 2, bias: 0, alpha: 1, beta: 1, convention: tf}
    """)
    y = BACKEND.build(net).apply({}, jnp.asarray(a))
    np.testing.assert_allclose(np.asarray(y), printed, atol=1e-7)


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_float64_agrees_with_the_oracle_at_every_layer(path):
    net = spec_to_run(path)
    weights = _canonical(net)
    x = np.random.default_rng(1).standard_normal((1,) + net.input_shape)
    expected = backends.get("numpy").evaluate(net, weights, x)
    actual = BACKEND.evaluate(net, weights, x, dtype="float64")
    assert [name for name, _ in actual] == [layer.name for layer in net.layers]
    for layer, (_, want), (_, got) in zip(net.layers, expected, actual):
        assert got.shape == (1,) + layer.output_shape, layer.name
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(want).max()),
                                   err_msg=layer.name)


def test_the_evaluator_compiled_ahead_takes_drawn_weights_without_a_copy(monkeypatch):
    """`alexspec check` compiles before the weights exist; the program then lays out the canonical weights itself,
    so the 64-byte aligned float64 arrays of init_weights reach XLA as they are (a copy of AlexNet's 61 million
    weights was a fifth of check's CPU time)."""
    import jax

    from alexnet_spec.weights import init_weights

    net = resolve_text(SMALL)
    run = BACKEND.evaluator(net, 2, "float64")
    weights = init_weights(net, 3)
    x = np.random.default_rng(4).standard_normal((2,) + net.input_shape)
    placed, device_put = {}, jax.device_put

    def recording(value, *args, **kwargs):
        placed[value.ctypes.data] = result = device_put(value, *args, **kwargs)
        return result

    monkeypatch.setattr(jax, "device_put", recording)
    outputs = run(weights, x)
    kernel = weights["conv1.weight"]
    assert placed[kernel.ctypes.data].unsafe_buffer_pointer() == kernel.ctypes.data
    expected = backends.get("numpy").evaluate(net, weights, x)
    for (name, want), (other, got) in zip(expected, outputs):
        assert name == other
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(want).max()), err_msg=name)
    with pytest.raises(SpecError, match="conv1.weight"):
        run({name: value for name, value in weights.items() if name != "conv1.weight"}, x)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-13), ("float32", 1e-5)])
def test_the_evaluators_program_computes_what_users_jit_computes(dtype, rtol):
    """check's program skips LLVM's optimisations (it runs once): its outputs differ from `jax.jit(apply)`'s, as
    users compile it, only in their rounding."""
    import jax
    import jax.numpy as jnp

    from alexnet_spec.weights import init_weights

    net = resolve_text(SMALL)
    weights = init_weights(net, 5)
    x = np.random.default_rng(6).standard_normal((2,) + net.input_shape)
    checked = BACKEND.evaluate(net, weights, x, dtype=dtype)[-1][1]
    with jax.enable_x64(dtype == "float64"):
        params, state = torch_to_jax(weights, net)
        cast = jnp.float64 if dtype == "float64" else jnp.float32
        params, state = (jax.tree_util.tree_map(lambda value: jnp.asarray(value, cast), tree) for tree in (params, state))
        module = BACKEND.build(net)
        users = np.asarray(jax.jit(module.apply)(params, jnp.asarray(x.transpose(0, 2, 3, 1), cast), state=state))
    np.testing.assert_allclose(checked, users, rtol=rtol, atol=rtol * np.abs(users).max())


def test_weight_exchange_round_trip_is_the_identity():
    net = resolve_text(SMALL)
    weights = _canonical(net)
    params, state = torch_to_jax(weights, net)
    back = jax_to_torch(params, net, state)
    assert set(back) == set(weights)
    for name, value in weights.items():
        np.testing.assert_array_equal(back[name], value)


@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-9, 1e-12), ("float32", 1e-4, 1e-6)])
def test_torch_and_jax_agree_in_outputs_and_gradients(dtype, rtol, atol):
    torch = pytest.importorskip("torch")
    net = resolve_text(SMALL)  # eval mode: dropout off, batchnorm on its running statistics
    weights = {name: value.astype(dtype) for name, value in _canonical(net).items()}
    model = backends.get("torch").build(net, dtype=dtype).eval()
    model.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()}, strict=False)
    x = np.random.default_rng(2).standard_normal((2,) + net.input_shape).astype(dtype)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    loss_torch = (model(x_torch) ** 2).sum()
    loss_torch.backward()
    module = BACKEND.build(net)
    with jax.enable_x64(dtype == "float64"):
        params, state = torch_to_jax(weights, net)
        params = jax.tree_util.tree_map(jnp.asarray, params)

        def loss(params, x):
            return (module.apply(params, x, state=state, layout="NCHW") ** 2).sum()

        value, (grad_params, grad_x) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, jnp.asarray(x))
        assert np.asarray(grad_x).dtype == np.dtype(dtype)
        np.testing.assert_allclose(float(value), loss_torch.item(), rtol=rtol)
        np.testing.assert_allclose(np.asarray(grad_x), x_torch.grad.numpy(), rtol=rtol, atol=atol)
        as_torch = jax_to_torch(grad_params, net, state)
        for name, parameter in model.named_parameters():
            np.testing.assert_allclose(as_torch[name], parameter.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


def test_train_mode_needs_a_key_and_returns_batchnorm_state():
    net = resolve_text(SMALL)
    module = BACKEND.build(net)
    params = module.init(jax.random.PRNGKey(0))
    x = jnp.ones((2, 11, 9, 3))
    with pytest.raises(ValueError, match="needs `key`"):
        module.apply(params, x, train=True)
    y, state = jax.jit(module.apply, static_argnames="train")(params, x, train=True, key=jax.random.PRNGKey(1))
    assert y.shape == (2, 3) and set(state) == {"bn1"}


def test_init_statistics_follow_the_declared_distributions():
    net = load_network("specs/alexnet.yaml")
    params = jax.jit(BACKEND.build(net).init)(jax.random.PRNGKey(0))
    assert abs(float(params["fc6"]["kernel"].std()) - 0.01) < 2e-4
    assert float(params["conv2"]["bias"].min()) == float(params["conv2"]["bias"].max()) == 1.0
    torch_default = BACKEND.build(resolve_text(SMALL)).init(jax.random.PRNGKey(0))
    bound = 1 / np.sqrt(3 * 9)  # fan_in of conv1: 3 channels × 3×3
    kernel = np.asarray(torch_default["conv1"]["kernel"])
    assert kernel.max() <= bound and kernel.min() >= -bound and kernel.max() > 0.8 * bound


def test_generated_file_runs_without_alexspec(tmp_path):
    (tmp_path / "lenet_jax.py").write_text(BACKEND.render(load_network("specs/lenet5.yaml")))
    script = textwrap.dedent("""
        import sys
        sys.modules["alexnet_spec"] = None
        sys.path.insert(0, sys.argv[1])
        import jax, jax.numpy as jnp, lenet_jax
        params = lenet_jax.init(jax.random.PRNGKey(0))
        y = jax.jit(lenet_jax.apply)(params, jnp.ones((2, 32, 32, 1)))
        print(y.shape)
    """)
    result = subprocess.run([sys.executable, "-I", "-c", script, str(tmp_path)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 10)"


def test_sharded_build_on_two_devices_equals_the_single_device_build():
    script = textwrap.dedent("""
        import jax, numpy as np, alexnet_spec.backends
        from alexnet_spec.source.loading import load_network
        net = load_network("specs/alexnet.yaml", ["input.height=67", "input.width=67",
                                                    "fc6.out_features=256", "fc7.out_features=256"])
        single = alexnet_spec.backends.get("jax").build(net)
        placed = alexnet_spec.backends.get("jax").build(net, devices=["cpu:0", "cpu:1"])
        params = jax.jit(single.init)(jax.random.PRNGKey(0))
        sharded = placed.shard(params)
        assert len(sharded["conv1"]["kernel"].sharding.device_set) == 2
        x = jax.random.normal(jax.random.PRNGKey(1), (2, 67, 67, 3))
        a, b = np.asarray(jax.jit(single.apply)(params, x)), np.asarray(jax.jit(placed.apply)(sharded, x))
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
        print("ok", a.shape)
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok (2, 1000)"


def test_placement_needs_one_device_per_spec_device():
    from alexnet_spec.errors import SpecError

    with pytest.raises(SpecError, match="places its layers on 2 devices, but build got 3"):
        BACKEND.build(load_network("specs/alexnet.yaml"), devices=["cpu:0", "cpu:1", "cpu:2"])


def test_weight_exchange_names_the_key_and_both_shapes():
    from alexnet_spec.errors import SpecError

    net = resolve_text(SMALL)
    weights = _canonical(net)
    wrong = {**weights, "fc1.weight": weights["fc1.weight"].T}
    with pytest.raises(SpecError, match=r"'fc1.weight' has shape \(36, 6\)") as error:
        torch_to_jax(wrong, net)
    assert "expected: shape (6, 36)" in str(error.value)
    params, state = torch_to_jax(weights, net)
    with pytest.raises(SpecError, match=r"'conv1/kernel' has shape \(3, 3, 6, 3\)"):
        jax_to_torch({**params, "conv1": {**params["conv1"], "kernel": params["conv1"]["kernel"].transpose(0, 1, 3, 2)}},
                     net, state)
    with pytest.raises(SpecError, match="missing weight 'bn1/var'"):
        jax_to_torch(params, net, {"bn1": {"mean": state["bn1"]["mean"]}})


def test_convert_file_refuses_unknown_suffixes(tmp_path):
    from alexnet_spec.errors import SpecError
    from alexnet_spec.tools.convert_weights import convert_file

    (tmp_path / "a.txt").write_text("weights?")
    with pytest.raises(SpecError, match="cannot read weights from a .txt file"):
        convert_file(ROOT / "specs" / "lenet5.yaml", tmp_path / "a.txt", tmp_path / "b.npz")
    with pytest.raises(SpecError, match="cannot write weights to a .txt file"):
        convert_file(ROOT / "specs" / "lenet5.yaml", tmp_path / "a.txt", tmp_path / "b.txt")


# A 4-channel 3×5 map: every (C, H, W) position distinct, so any other flatten order shows.
FLATTEN_HEAD = """
    name: FlattenTail
    input: {channels: 2, height: 3, width: 5}
    layers:
      - {type: conv, name: conv, out_channels: 4, kernel: 1}
      - {type: flatten, name: flatten}
"""


@pytest.mark.parametrize("tail", ["", "- {type: softmax}", "- {type: batchnorm}", "- {type: dropout, p: 0.5}",
                                  "- {type: dense, out_features: 7}"])
def test_features_come_out_in_torchs_c_h_w_order(tail):
    """Whatever follows the flatten, the JAX module returns what torch.flatten(x, 1) of the NCHW map gives (the
    torch module is the peer), with the canonical weights transferred as they are; and `alexspec check`'s evaluate
    hands on exactly what `apply` returned, with no reordering of its own."""
    torch = pytest.importorskip("torch")
    net = resolve_text(FLATTEN_HEAD + (f"      {tail}\n" if tail else ""))
    weights = _canonical(net)
    x = np.random.default_rng(5).standard_normal((2,) + net.input_shape)
    model = backends.get("torch").build(net).double().eval()
    model.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()}, strict=False)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with jax.enable_x64(True):
        params, state = torch_to_jax(weights, net)
        y = np.asarray(BACKEND.build(net).apply(params, jnp.asarray(x.transpose(0, 2, 3, 1)), state=state or None))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    checked = BACKEND.evaluate(net, weights, x, dtype="float64")[-1][1]
    np.testing.assert_allclose(checked, y, rtol=1e-13, atol=1e-15)  # evaluate's jit may round the last bits apart


def test_convert_weights_gives_the_jax_module_torchs_function(tmp_path):
    """A trained torch state dict through `convert_file` (.pt -> .npz): the JAX module with those params computes
    what the torch module computes, through a batchnorm before the flatten and a dense layer after it."""
    torch = pytest.importorskip("torch")
    from alexnet_spec.tools.convert_weights import convert_file

    spec = tmp_path / "small.yaml"
    spec.write_text(textwrap.dedent(SMALL))
    net = load_network(spec)
    torch.manual_seed(0)
    model = backends.get("torch").build(net).double().eval()
    for buffer in (model.state_dict()[name] for name in model.state_dict() if name.endswith("running_var")):
        buffer.uniform_(0.5, 2.0)  # running statistics that are not the identity
    torch.save(model.state_dict(), tmp_path / "trained.pt")
    convert_file(spec, tmp_path / "trained.pt", tmp_path / "trained.npz")
    params, state = {}, {}
    with np.load(tmp_path / "trained.npz") as archive:
        for key in archive.files:
            layer, _, field = key.partition("/")
            (state if field in ("mean", "var") else params).setdefault(layer, {})[field] = archive[key]
    x = np.random.default_rng(2).standard_normal((3,) + net.input_shape)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with jax.enable_x64(True):
        y = np.asarray(BACKEND.build(net).apply(params, jnp.asarray(x.transpose(0, 2, 3, 1)), state=state))
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("running_variance", ["unbiased", "biased"])
def test_batchnorm_running_statistics_follow_torch_or_keras(running_variance):
    """apply(train=True) returns the running statistics torch.nn.BatchNorm computes (unbiased) or Keras 3's rule
    gives (biased, written out in tests/batchnorm_rules.py), as the spec says."""
    pytest.importorskip("torch")
    from tests.batchnorm_rules import expected_running_statistics, spec_text, weights_and_input

    net = resolve_text(spec_text(running_variance))
    weights, x = weights_and_input()
    with jax.enable_x64(True):
        params, state = torch_to_jax(weights, net)
        _, new_state = BACKEND.build(net).apply(params, jnp.asarray(x.transpose(0, 2, 3, 1)), train=True, state=state)
        updated = jax_to_torch(params, net, new_state)
    for name, value in expected_running_statistics(weights, x, running_variance).items():
        np.testing.assert_allclose(updated[name], value, rtol=1e-12, atol=1e-12, err_msg=name)


def test_training_batchnorm_needs_more_than_one_value_per_channel():
    """As torch.nn.BatchNorm1d raises ("Expected more than 1 value per channel when training"), jitted or not;
    eval mode takes a batch of one."""
    from tests.batchnorm_rules import spec_text

    net = resolve_text(spec_text("unbiased"))
    module = BACKEND.build(net)
    params, x = module.init(jax.random.PRNGKey(0)), jnp.ones((1, 4, 5, 3))
    for apply in (module.apply, jax.jit(module.apply, static_argnames="train")):
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            apply(params, x, train=True)
    assert module.apply(params, x).shape == (1, 60)
