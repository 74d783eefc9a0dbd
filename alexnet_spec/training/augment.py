"""The paper's data augmentation (Krizhevsky et al. 2012, section 4.1), on the host, in numpy, so that every backend
trains on exactly the same batches and a resumed run redraws exactly what it would have drawn:

- random crops: images are prepared `crop` pixels larger than the spec's input (the paper: 256×256 for 224×224) and a
  random window of the input's size is taken for training; held-out images use the centre window;
- horizontal flips: each training image mirrored left-right with probability 1/2;
- PCA colour jitter: to every pixel of an image add sum_i alpha_i * lambda_i * p_i, where p_i and lambda_i are the
  eigenvectors and eigenvalues of the channels' 3×3 covariance over the training pixels and alpha_i ~ N(0, sigma²)
  is drawn once per image (the paper: sigma = 0.1).

Then each channel is standardised with the training images' mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Augmentation:
    crop: int = 0  # extra pixels on each axis: random windows in training, the centre one held out
    flip: bool = False
    pca_jitter: float = 0.0  # sigma of the paper's alpha; 0: off

    def to_json(self) -> dict:
        return {"crop": self.crop, "flip": self.flip, "pca_jitter": self.pca_jitter}


@dataclass(frozen=True)
class Colour:
    """What augmentation and standardisation need to know of the training images' pixels (per channel)."""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)
    eigenvalues: np.ndarray  # (C,) of the channel covariance
    eigenvectors: np.ndarray  # (C, C), one per column


def colour_statistics(images: np.ndarray) -> Colour:
    """Channel mean, standard deviation and covariance eigenbasis of (N, C, H, W) images."""
    pixels = images.transpose(0, 2, 3, 1).reshape(-1, images.shape[1]).astype(np.float64)
    covariance = np.atleast_2d(np.cov(pixels, rowvar=False))
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    std = pixels.std(axis=0)
    return Colour(pixels.mean(axis=0), np.where(std > 0, std, 1.0), np.clip(eigenvalues, 0, None), eigenvectors)


def training_batch(images: np.ndarray, augmentation: Augmentation, colour: Colour,
                   rng: np.random.Generator) -> np.ndarray:
    """(N, C, H + crop, W + crop) -> (N, C, H, W) float32: cropped, flipped, jittered and standardised."""
    count, _, height, width = images.shape
    size = (height - augmentation.crop, width - augmentation.crop)
    tops = rng.integers(0, augmentation.crop + 1, size=count)
    lefts = rng.integers(0, augmentation.crop + 1, size=count)
    batch = np.stack([image[:, top:top + size[0], left:left + size[1]]
                      for image, top, left in zip(images, tops, lefts)]).astype(np.float64)
    if augmentation.flip:
        mirrored = rng.random(count) < 0.5
        batch[mirrored] = batch[mirrored, :, :, ::-1]
    if augmentation.pca_jitter:
        batch += pca_shift(colour, rng.normal(0.0, augmentation.pca_jitter, size=(count, len(colour.mean))))
    return standardise(batch, colour)


def pca_shift(colour: Colour, alphas: np.ndarray) -> np.ndarray:
    """(N, C) draws of alpha -> (N, C, 1, 1): each image's [p1 ... pC] [alpha_1 lambda_1 ... alpha_C lambda_C]^T."""
    return ((alphas * colour.eigenvalues) @ colour.eigenvectors.T)[:, :, None, None]


def held_out_batch(images: np.ndarray, augmentation: Augmentation, colour: Colour) -> np.ndarray:
    """The centre window of each image, standardised."""
    top, left = augmentation.crop // 2, augmentation.crop // 2
    height, width = images.shape[2] - augmentation.crop, images.shape[3] - augmentation.crop
    return standardise(images[:, :, top:top + height, left:left + width].astype(np.float64), colour)


def standardise(batch: np.ndarray, colour: Colour) -> np.ndarray:
    return ((batch - colour.mean[:, None, None]) / colour.std[:, None, None]).astype(np.float32)
