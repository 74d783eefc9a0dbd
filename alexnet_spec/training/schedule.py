"""The paper's learning-rate schedule: divide by 10 when the held-out error stops improving (Krizhevsky et al. 2012,
section 5), with the rule of torch.optim.lr_scheduler.ReduceLROnPlateau (mode "max" on held-out top-1, relative
threshold 1e-4), written out so that every backend follows the same schedule and a checkpoint can carry it."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Plateau:
    lr: float
    factor: float = 0.1
    patience: int = 1  # epochs without improvement that are tolerated before the rate drops
    threshold: float = 1e-4  # relative: an accuracy must beat best * (1 + threshold)
    best: float | None = None
    bad_epochs: int = 0

    def after_epoch(self, accuracy: float) -> "Plateau":
        """The schedule after an epoch whose held-out top-1 is `accuracy`."""
        if self.best is None or accuracy > self.best * (1 + self.threshold):
            return replace(self, best=accuracy, bad_epochs=0)
        if self.bad_epochs + 1 > self.patience:
            return replace(self, lr=self.lr * self.factor, bad_epochs=0)
        return replace(self, bad_epochs=self.bad_epochs + 1)

    def to_json(self) -> dict:
        return {"lr": self.lr, "factor": self.factor, "patience": self.patience, "threshold": self.threshold,
                "best": self.best, "bad_epochs": self.bad_epochs}
