"""Timing: interleaved repetitions after warm-up, medians with spread, ratios measured side by side in one run."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Timing:
    name: str
    samples: tuple[float, ...]  # seconds per call

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> tuple[float, float]:
        """(min, max) of the samples, in seconds."""
        return min(self.samples), max(self.samples)

    def describe(self, unit: float = 1e-3, suffix: str = "ms") -> str:
        low, high = self.spread
        return f"{self.median / unit:.3f} {suffix} [{low / unit:.3f}, {high / unit:.3f}]"


def interleaved(candidates: dict[str, Callable[[], object]], repetitions: int = 7, warmup: int = 2,
                inner: int = 1) -> dict[str, Timing]:
    """Time each candidate `repetitions` times, alternating between them so drift affects all alike."""
    for _ in range(warmup):
        for function in candidates.values():
            function()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repetitions):
        for name, function in candidates.items():
            started = time.perf_counter()
            for _ in range(inner):
                function()
            samples[name].append((time.perf_counter() - started) / inner)
    return {name: Timing(name, tuple(values)) for name, values in samples.items()}


def ratio(baseline: Timing, candidate: Timing) -> float:
    """How many times faster the candidate is than the baseline (medians)."""
    return baseline.median / candidate.median
