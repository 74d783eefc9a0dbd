"""The loop's parts against what nobody here wrote: resizing against torch's bilinear interpolate, metrics against
F.cross_entropy and torch.topk, the plateau rule against torch's ReduceLROnPlateau, the PCA jitter against the paper's
formula, ImageFolder's class numbering, and the plot as well-formed SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from alexnet_spec.training.augment import (Augmentation, colour_statistics, held_out_batch, pca_shift,
                                           training_batch)
from alexnet_spec.training.data import image_folder, resize_bilinear, split
from alexnet_spec.training.metrics import cross_entropy, top_k
from alexnet_spec.training.plot import curves_svg
from alexnet_spec.training.schedule import Plateau

torch = pytest.importorskip("torch")


def test_bilinear_resize_is_torchs_half_pixel_interpolate():
    images = np.random.default_rng(0).random((2, 3, 8, 5))
    expected = torch.nn.functional.interpolate(torch.from_numpy(images), size=(32, 13), mode="bilinear",
                                               align_corners=False).numpy()
    np.testing.assert_allclose(resize_bilinear(images, (32, 13)), expected, rtol=1e-12, atol=1e-12)


def test_digits_are_upsampled_and_replicated_to_the_input(lenet_digits):
    from alexnet_spec.training.data import digits

    _, data = lenet_digits
    assert data.images.shape == (1797, 1, 32, 32) and data.classes == tuple("0123456789")
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    rgb = digits((3, 12, 10))
    assert rgb.images.shape == (1797, 3, 12, 10) and np.array_equal(rgb.images[:, 0], rgb.images[:, 2])
    training, held = split(data, 0.2, seed=5)
    assert len(held) == 359 and len(training) == 1438
    assert not set(map(bytes, held.images[:50])) & set(map(bytes, training.images[:1438]))
    assert np.array_equal(split(data, 0.2, seed=5)[1].labels, held.labels)  # fixed by the seed


def test_metrics_are_torchs_cross_entropy_and_topk():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(17, 7)) * 3, rng.integers(0, 7, size=17)
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-12)
    for k in (1, 3, 5):
        hits = (torch.topk(torch.from_numpy(logits), k).indices == torch.from_numpy(labels)[:, None]).any(1)
        assert top_k(logits, labels, k) == pytest.approx(hits.double().mean().item())


def test_plateau_divides_by_ten_as_reduce_lr_on_plateau_does():
    accuracies = [0.5, 0.6, 0.6, 0.59, 0.7, 0.7, 0.7, 0.7, 0.71, 0.71, 0.71]
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.1, patience=1)
    schedule, ours, theirs = Plateau(0.1, patience=1), [], []
    for accuracy in accuracies:
        schedule = schedule.after_epoch(accuracy)
        reference.step(accuracy)
        ours.append(schedule.lr)
        theirs.append(optimizer.param_groups[0]["lr"])
    assert ours == pytest.approx(theirs) and min(ours) < 0.1


def test_pca_jitter_shifts_each_image_along_the_principal_colours():
    # Colours that vary only along v: the covariance has one nonzero eigenvalue, with eigenvector ±v, so the
    # paper's shift [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T is parallel to v and the same at every pixel of an image.
    rng = np.random.default_rng(2)
    v = np.array([1.0, 2.0, -1.0]) / np.sqrt(6)
    images = 0.5 + rng.normal(size=(40, 1, 6, 5)) * v[None, :, None, None]
    colour = colour_statistics(images)
    assert colour.eigenvalues[-1] == pytest.approx(np.var(images.transpose(0, 2, 3, 1).reshape(-1, 3) @ v,
                                                          ddof=1))
    shift = pca_shift(colour, np.ones((4, 3)))[:, :, 0, 0]
    np.testing.assert_allclose(np.abs(shift @ v), np.linalg.norm(shift, axis=1), rtol=1e-6)
    np.testing.assert_allclose(np.abs(shift @ v), colour.eigenvalues[-1], rtol=1e-6)
    plain = training_batch(images[:4], Augmentation(), colour, np.random.default_rng(0))
    jittered = training_batch(images[:4], Augmentation(pca_jitter=0.1), colour, np.random.default_rng(0))
    difference = (jittered - plain) * colour.std[:, None, None]
    assert np.ptp(difference, axis=(2, 3)).max() < 1e-5 and np.abs(difference).max() > 0


def test_crops_are_windows_of_the_larger_image_and_flips_mirror_them():
    images = np.random.default_rng(3).random((8, 1, 9, 11))
    colour = colour_statistics(images)
    raw = lambda batch: batch * colour.std[:, None, None] + colour.mean[:, None, None]  # noqa: E731
    batch = raw(training_batch(images, Augmentation(crop=3, flip=True), colour, np.random.default_rng(4)))
    assert batch.shape == (8, 1, 6, 8)
    for image, window in zip(images, batch):
        found = [(top, left) for top in range(4) for left in range(4)
                 for candidate in (window, window[:, :, ::-1])
                 if np.allclose(image[:, top:top + 6, left:left + 8], candidate, atol=1e-5)]
        assert found
    centre = raw(held_out_batch(images, Augmentation(crop=3), colour))
    np.testing.assert_allclose(centre, images[:, :, 1:7, 1:9], atol=1e-5)


def test_image_folder_numbers_classes_as_imagefolder_does(tmp_path):
    from PIL import Image

    for name, size, count in (("zebra", (40, 30), 2), ("ant", (20, 50), 3)):
        (tmp_path / name).mkdir()
        for index in range(count):
            Image.new("RGB", size, (index * 40, 100, 200)).save(tmp_path / name / f"{index}.png")
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    data = image_folder(tmp_path, (3, 16, 12))
    assert data.classes == ("ant", "zebra") and list(data.labels) == [0, 0, 0, 1, 1]
    assert data.images.shape == (5, 3, 16, 12)
    np.testing.assert_allclose(data.images[1, :, 5, 5], np.array([40, 100, 200]) / 255, atol=1 / 255)


def test_the_plot_is_svg_with_a_curve_per_series():
    history = [{"epoch": epoch, "train_loss": 2 / epoch, "held_out_loss": 2.2 / epoch, "train_top1": 0.3 * epoch,
                "held_out_top1": 0.28 * epoch, "held_out_top5": 0.9} for epoch in (1, 2, 3)]
    root = ElementTree.fromstring(curves_svg(history, "Net <&> data"))
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 5 and all(len(line.get("points").split()) == 3 for line in lines)
    assert root.find("{http://www.w3.org/2000/svg}title").text == "Net <&> data"
