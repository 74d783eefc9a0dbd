"""`alexspec convert-weights`: torch .pt -> jax .npz -> .safetensors -> .pt exactly, and clear errors for what cannot be converted."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_cli

torch = pytest.importorskip("torch", reason="converting .pt files needs the [torch] extra")


def test_round_trip_through_the_command_line(tmp_path):
    import alexnet_spec

    model = alexnet_spec.build("specs/lenet5.yaml", "torch")
    torch.save(model.state_dict(), tmp_path / "trained.pt")
    first = run_cli("convert-weights", "specs/lenet5.yaml", str(tmp_path / "trained.pt"), str(tmp_path / "p.npz"))
    assert first.returncode == 0, first.stderr
    with np.load(tmp_path / "p.npz") as archive:
        assert archive["c1/kernel"].shape == (5, 5, 1, 6)  # HWIO
        assert archive["f6/kernel"].shape == (120, 84)
    second = run_cli("convert-weights", "specs/lenet5.yaml", str(tmp_path / "p.npz"), str(tmp_path / "w.safetensors"))
    assert second.returncode == 0, second.stderr
    third = run_cli("convert-weights", "specs/lenet5.yaml", str(tmp_path / "w.safetensors"), str(tmp_path / "back.pt"))
    assert third.returncode == 0, third.stderr
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(back[name], value, rtol=0, atol=0)
    from alexnet_spec.interop.weights_io import safetensors_metadata

    assert safetensors_metadata(tmp_path / "w.safetensors")["spec_name"] == "LeNet5"


def test_wrong_suffix_and_mismatched_weights(tmp_path):
    result = run_cli("convert-weights", "specs/lenet5.yaml", "a.pt", str(tmp_path / "b.txt"))
    assert result.returncode == 2 and "cannot write weights to a .txt file" in result.stderr
    import alexnet_spec

    torch.save(alexnet_spec.build("specs/alexnet_torchvision.yaml", "torch").state_dict(), tmp_path / "other.pt")
    result = run_cli("convert-weights", "specs/lenet5.yaml", str(tmp_path / "other.pt"), str(tmp_path / "x.npz"))
    assert result.returncode == 2 and "missing weight 'c1.weight'" in result.stderr
    assert not (tmp_path / "x.npz").exists()


# Issue 17, item 23: whatever is in a weight file, reading it is a located error naming the file and the array, never
# an internal error, never code run from a pickle, and never a wrong file written with exit 0. In-process (the real
# Typer app) so that torch is imported once.

def _run(*args: str):
    from typer.testing import CliRunner

    from alexnet_spec.cli import app

    result = CliRunner().invoke(app, list(args))
    result.returncode = result.exit_code  # the name subprocess uses, as the tests above read it
    return result


class _WritesAFile:
    """Unpickling this calls open(path, "w"): what a malicious pickle would do, harmlessly visible."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _assert_refused(result, needle: str, tmp_path) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(("out.", ".out."))]


def test_a_malicious_pickle_is_refused_and_never_run(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    torch.save({"c1.weight": _WritesAFile(marker)}, tmp_path / "zip.pt")  # torch's zip format
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"c1.weight": _WritesAFile(marker)}))  # a bare pickle
    for name in ("zip.pt", "legacy.pt"):
        result = _run("convert-weights", "specs/lenet5.yaml", str(tmp_path / name), str(tmp_path / "out.npz"))
        _assert_refused(result, f"{tmp_path / name}: error: cannot read a torch state dict", tmp_path)
        result = _run("export", "specs/lenet5.yaml", "-o", str(tmp_path / "out.onnx"), "--weights",
                         str(tmp_path / name))
        _assert_refused(result, f"{tmp_path / name}: error: cannot read a torch state dict", tmp_path)
    assert not marker.exists()


def _lenet_state(tmp_path):
    import alexnet_spec

    return {key: value.numpy() for key, value in alexnet_spec.build("specs/lenet5.yaml", "torch").state_dict().items()}


def test_files_that_are_not_state_dicts(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    torch.save({"model": {"c1.weight": torch.zeros(3)}}, tmp_path / "checkpoint.pt")
    cases = [("tensor.pt", "the file holds a torch.Tensor, not a state dict"),
             ("list.pt", "the file holds a list, not a state dict"),
             ("checkpoint.pt", "entry 'model' is a dict, not a tensor")]
    for name, needle in cases:
        result = _run("convert-weights", "specs/lenet5.yaml", str(tmp_path / name), str(tmp_path / "out.npz"))
        _assert_refused(result, f"{tmp_path / name}: error: {needle}", tmp_path)


def test_truncated_and_mislabelled_npz(tmp_path):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **{"c1/kernel": np.zeros((5, 5, 1, 6))})
    (tmp_path / "truncated.npz").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    np.savez(tmp_path / "objects.npz", **{"c1/kernel": np.array([{"a": 1}], dtype=object)})  # needs pickle to load
    np.savez(tmp_path / "strings.npz", **{"c1/kernel": np.array(["x"])})
    torch.save({"c1.weight": torch.zeros(3)}, tmp_path / "torch.npz")  # a torch zip under a .npz name
    cases = [("truncated.npz", "cannot read a .npz"), ("single.npz", "holds a single array, not an archive"),
             ("objects.npz", "cannot read array 'c1/kernel'"), ("strings.npz", "array 'c1/kernel' holds <U1 values"),
             ("torch.npz", "is not a .npy array")]
    for name, needle in cases:
        result = _run("convert-weights", "specs/lenet5.yaml", str(tmp_path / name), str(tmp_path / "out.pt"))
        _assert_refused(result, f"{tmp_path / name}: error: ", tmp_path)
        assert needle in result.stderr, (name, result.stderr)


def test_missing_extra_and_misshapen_arrays_name_the_array(tmp_path):
    state = _lenet_state(tmp_path)
    variants = {
        "missing.pt": ({key: value for key, value in state.items() if key != "f6.bias"}, "missing weight 'f6.bias'"),
        "extra.pt": ({**state, "c9.weight": np.zeros(2, dtype=np.float32)}, "unexpected weight 'c9.weight'"),
        "shape.pt": ({**state, "f6.bias": np.zeros(83, dtype=np.float32)}, "weight 'f6.bias' has shape (83,)"),
    }
    for name, (weights, needle) in variants.items():
        torch.save({key: torch.from_numpy(np.array(value)) for key, value in weights.items()}, tmp_path / name)
        result = _run("convert-weights", "specs/lenet5.yaml", str(tmp_path / name), str(tmp_path / "out.npz"))
        _assert_refused(result, f"{tmp_path / name}: error: {needle}", tmp_path)
    # The other direction: a JAX params file with a misshapen bias (torch's f6.bias is (84,): nn.Linear(120, 84)).
    assert _run("convert-weights", "specs/lenet5.yaml", str(_save_pt(tmp_path, state)),
                   str(tmp_path / "params.npz")).returncode == 0
    with np.load(tmp_path / "params.npz") as archive:
        params = dict(archive)
    for name, (arrays, needle) in {
        "jshape.npz": ({**params, "f6/bias": np.zeros(83)}, "weight 'f6/bias' has shape (83,)"),
        "jextra.npz": ({**params, "f6/scale": np.zeros(84)}, "unexpected weight 'f6/scale'"),
        "jmissing.npz": ({key: value for key, value in params.items() if key != "c1/bias"}, "missing weight 'c1/bias'"),
    }.items():
        np.savez(tmp_path / name, **arrays)
        result = _run("convert-weights", "specs/lenet5.yaml", str(tmp_path / name), str(tmp_path / "out.pt"))
        _assert_refused(result, f"{tmp_path / name}: error: {needle}", tmp_path)


def _save_pt(tmp_path, state):
    torch.save({key: torch.from_numpy(np.array(value)) for key, value in state.items()}, tmp_path / "good.pt")
    return tmp_path / "good.pt"


class TorchvisionStyleLeNet(torch.nn.Module):
    """LeNet-5 written as torchvision writes its models: `features` and `classifier` Sequentials, so its state dict
    says features.0.weight, classifier.2.bias, ..."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                                      nn.AvgPool2d(2), nn.Conv2d(16, 120, 5), nn.Tanh())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def test_a_torchvision_layout_state_dict_by_order(tmp_path):
    import alexnet_spec

    torch.manual_seed(1)
    theirs = TorchvisionStyleLeNet().eval()
    torch.save(theirs.state_dict(), tmp_path / "tv.pt")
    from safetensors.torch import load_file

    from alexnet_spec.errors import SpecError
    from alexnet_spec.tools.convert_weights import convert_file

    report = convert_file("specs/lenet5.yaml", tmp_path / "tv.pt", tmp_path / "w.safetensors", from_order=True)
    assert report[0] == "features.0 -> c1: weight 6×1×5×5, bias 6"  # what the command prints
    assert report[-1] == "classifier.3 -> output: weight 10×84, bias 10" and len(report) == 5

    ours = alexnet_spec.build("specs/lenet5.yaml", "torch").eval()
    ours.load_state_dict(load_file(tmp_path / "w.safetensors"))
    x = torch.randn(3, 1, 32, 32)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-6, atol=1e-6)

    state = theirs.state_dict()
    state["features.3.weight"] = state["features.3.weight"][:, :5]  # a different architecture from there on
    torch.save(state, tmp_path / "other.pt")
    with pytest.raises(SpecError) as caught:
        convert_file("specs/lenet5.yaml", tmp_path / "other.pt", tmp_path / "x.pt", from_order=True)
    assert caught.value.diagnostics[0].message == "features.3.weight has shape [16, 5, 5, 5]; c3.weight needs " \
                                                  "[16, 6, 5, 5]" and not (tmp_path / "x.pt").exists()
