"""Labelled images for training, as arrays the same for every backend: (N, C, H, W) float32 in [0, 1], int64 labels.

Two sources: `digits` (the 1,797 8×8 handwritten digits that scikit-learn ships, so nothing is downloaded), upsampled
bilinearly to the spec's input, and a folder of images in class subfolders as torchvision's ImageFolder reads it
(decoded with Pillow). Grey images are replicated to the spec's channels. `split` holds out a fixed fraction, chosen
by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alexnet_spec.errors import Diagnostic, SpecError

# torchvision.datasets.folder.IMG_EXTENSIONS: the files ImageFolder reads (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
DATA_HELP = "'digits' (scikit-learn's handwritten digits) or a folder of class subfolders of images"


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # (N, C, H, W) float32 in [0, 1]
    labels: np.ndarray  # (N,) int64, indices into `classes`
    classes: tuple[str, ...]
    source: str  # "digits" or the folder, for messages

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "Dataset":
        return Dataset(self.images[indices], self.labels[indices], self.classes, self.source)


def load_data(data: str, shape: tuple[int, int, int]) -> Dataset:
    """`data` ("digits" or a folder) as images of `shape` (C, H, W)."""
    if data == "digits":
        return digits(shape)
    return image_folder(Path(data), shape)


def digits(shape: tuple[int, int, int]) -> Dataset:
    """scikit-learn's handwritten digits (8×8, grey levels 0-16), scaled to [0, 1] and upsampled bilinearly to
    (H, W) with half-pixel centres (torch's `interpolate(mode="bilinear", align_corners=False)`), grey replicated
    to C channels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SpecError(Diagnostic("--data digits needs scikit-learn", file="--data",
                                   hint='pip install "alexspec[train]"')) from None
    bunch = load_digits()
    images = resize_bilinear(bunch.images[:, None].astype(np.float64) / 16.0, shape[1:])
    return Dataset(_channels(images, shape[0]).astype(np.float32), bunch.target.astype(np.int64),
                   tuple(str(name) for name in bunch.target_names), "digits")


def resize_bilinear(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, C, h, w) -> (N, C, H, W), bilinear with half-pixel centres, the edge pixels repeated beyond the border."""
    height, width = size
    rows = _axis_weights(images.shape[2], height)
    columns = _axis_weights(images.shape[3], width)
    return np.einsum("Hh,nchw,Ww->ncHW", rows, images, columns)


def _axis_weights(source: int, target: int) -> np.ndarray:
    """(target, source) interpolation weights: output i samples input coordinate (i + 0.5) * source/target - 0.5."""
    position = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, source - 1)
    fraction = position - low
    weights = np.zeros((target, source))
    np.add.at(weights, (np.arange(target), low), 1 - fraction)
    np.add.at(weights, (np.arange(target), high), fraction)
    return weights


def image_folder(root: Path, shape: tuple[int, int, int]) -> Dataset:
    """Every image under root/CLASS/ (classes sorted by name, as ImageFolder numbers them), each resized so that
    its shorter side is the spec's larger side and centre-cropped to (H, W), as the paper prepares ImageNet."""
    if not root.is_dir():
        raise SpecError(Diagnostic("no such data folder" if not root.exists() else "not a folder", file=str(root),
                                   expected=DATA_HELP))
    folders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not folders:
        raise SpecError(Diagnostic("the data folder has no class subfolders", file=str(root),
                                   expected="one subfolder of images per class, as root/cat/1.png, root/dog/2.png"))
    files, labels = [], []
    for label, folder in enumerate(folders):
        found = sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
        if not found:
            raise SpecError(Diagnostic("class folder holds no images", file=str(folder),
                                       expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}",
                                       hint="remove the folder, or put this class's images in it"))
        files += found
        labels += [label] * len(found)
    images = np.stack([_decode(path, shape) for path in files])
    return Dataset(images, np.asarray(labels, np.int64), tuple(folder.name for folder in folders), str(root))


def _decode(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise SpecError(Diagnostic("reading image folders needs Pillow", file=str(path),
                                   hint='pip install "alexspec[train]"')) from None
    channels, height, width = shape
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            scale = max(height, width) / min(image.size)
            resized = (max(width, round(image.size[0] * scale)), max(height, round(image.size[1] * scale)))
            image = image.resize(resized, Image.Resampling.BILINEAR)
            left, top = (resized[0] - width) // 2, (resized[1] - height) // 2
            pixels = np.asarray(image.crop((left, top, left + width, top + height)), np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise SpecError(Diagnostic(f"cannot read the image: {error}", file=str(path),
                                   hint="remove the file or replace it with a readable image")) from None
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return _channels(pixels[None], channels)[0]


def _channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Grey (N, 1, H, W) replicated to `channels`; images that already have them unchanged."""
    if images.shape[1] == channels:
        return images
    if images.shape[1] == 1:
        return np.repeat(images, channels, axis=1)
    raise SpecError(Diagnostic(f"the images have {images.shape[1]} channels but the spec's input has {channels}",
                               file="--data", expected=f"{channels}-channel or grey images"))


def split(dataset: Dataset, holdout: float, seed: int) -> tuple[Dataset, Dataset]:
    """(training, held-out): a fraction `holdout` of the examples, chosen by `seed`, kept out of training."""
    if not 0 < holdout < 1:
        raise SpecError(Diagnostic(f"--holdout {holdout} is not a fraction strictly between 0 and 1",
                                   file="--holdout", expected="for example 0.2"))
    order = np.random.default_rng(seed).permutation(len(dataset))
    held = max(1, round(holdout * len(dataset)))
    if held >= len(dataset):
        raise SpecError(Diagnostic(f"{len(dataset)} images leave none to train on after holding out {held}",
                                   file=dataset.source, hint="add images or lower --holdout"))
    return dataset.subset(np.sort(order[held:])), dataset.subset(np.sort(order[:held]))


def check_classes(dataset: Dataset, outputs: int, net_file: str, layer: str) -> None:
    """The spec's output must have one value per class of the data."""
    if outputs != len(dataset.classes):
        raise SpecError(Diagnostic(f"the network outputs {outputs} values but {dataset.source} has "
                                   f"{len(dataset.classes)} classes", file=net_file, layer=layer,
                                   expected=f"{len(dataset.classes)} outputs, one per class",
                                   hint=f"--set {layer}.out_features={len(dataset.classes)}"))
