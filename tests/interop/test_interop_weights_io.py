"""Weight files read without trusting what they say about themselves."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from alexnet_spec.errors import SpecError
from alexnet_spec.interop.weights_io import load_npz


def _npz_with_header(path, shape, payload: bytes) -> None:
    """A .npz whose member's .npy header (written by numpy's own writer) states `shape` over `payload` bytes."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("conv1.weight.npy", member.getvalue() + payload)


def test_a_header_claiming_more_than_the_file_holds_is_refused_before_allocating(tmp_path):
    # numpy allocates the header's shape before reading a zip member: 10**12 float64 would be 8 TB.
    path = tmp_path / "bomb.npz"
    _npz_with_header(path, (10**12,), b"\0" * 16)
    tracemalloc.start()
    with pytest.raises(SpecError) as error:
        load_npz(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    message = str(error.value)
    assert "claims 8,000,000,000,000 bytes" in message and "holds 16" in message and str(path) in message
    assert peak < 10_000_000


def test_a_header_that_fits_its_data_is_read(tmp_path):
    path = tmp_path / "fine.npz"
    _npz_with_header(path, (2, 3), np.arange(6, dtype="<f8").tobytes())
    np.testing.assert_array_equal(load_npz(path)["conv1.weight"], np.arange(6.0).reshape(2, 3))


def test_safetensors_round_trip_keeps_names_dtypes_and_metadata(tmp_path):
    from safetensors.numpy import load as reference_load

    from alexnet_spec.interop.weights_io import load_safetensors, safetensors_metadata, weights_bytes

    arrays = {"conv1.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2), "bn1.num_batches_tracked":
              np.array(3, dtype=np.int64), "fc.bias": np.linspace(0, 1, 5)}
    path = tmp_path / "w.safetensors"
    path.write_bytes(weights_bytes(path, arrays, {"spec": "Tiny"}))
    for loaded in (load_safetensors(path), reference_load(path.read_bytes())):
        assert set(loaded) == set(arrays)
        for name, array in arrays.items():
            assert loaded[name].dtype == array.dtype and np.array_equal(loaded[name], array)
    assert safetensors_metadata(path) == {"spec": "Tiny"}


def test_a_damaged_safetensors_file_is_a_located_error(tmp_path):
    from alexnet_spec.interop.weights_io import load_safetensors

    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(SpecError) as error:
        load_safetensors(path)
    assert str(path) in str(error.value) and "cannot read a .safetensors file" in str(error.value)
