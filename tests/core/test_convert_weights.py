"""`alexspec convert-weights`: torch .pt <-> jax .npz, and clear errors for what cannot be converted."""

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
    second = run_cli("convert-weights", "specs/lenet5.yaml", str(tmp_path / "p.npz"), str(tmp_path / "back.pt"))
    assert second.returncode == 0, second.stderr
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(back[name], value, rtol=0, atol=0)


def test_wrong_suffix_and_mismatched_weights(tmp_path):
    result = run_cli("convert-weights", "specs/lenet5.yaml", "a.txt", str(tmp_path / "b.npz"))
    assert result.returncode == 2 and "IN.pt OUT.npz" in result.stderr
    import alexnet_spec

    torch.save(alexnet_spec.build("specs/alexnet_torchvision.yaml", "torch").state_dict(), tmp_path / "other.pt")
    result = run_cli("convert-weights", "specs/lenet5.yaml", str(tmp_path / "other.pt"), str(tmp_path / "x.npz"))
    assert result.returncode == 2 and "missing weight 'c1.weight'" in result.stderr
    assert not (tmp_path / "x.npz").exists()
