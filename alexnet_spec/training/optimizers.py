"""The optimizers `alexspec train` offers, described once for every backend: their hyperparameters and the names
of their state in checkpoints (torch.optim's, so a checkpoint reads the same whichever backend wrote it)."""

from __future__ import annotations

from dataclasses import dataclass

from alexnet_spec.errors import Diagnostic, SpecError


@dataclass(frozen=True)
class OptimizerSettings:
    name: str  # "sgd", "adam" or "adamw"
    momentum: float = 0.0  # sgd
    weight_decay: float = 0.0  # sgd, adam: added to the gradient (L2); adamw: decoupled, times the rate
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    @property
    def state_names(self) -> tuple[str, ...]:
        """Per-parameter state arrays, by torch.optim's names; adam and adamw also keep a scalar "step"."""
        return ("momentum_buffer",) if self.name == "sgd" else ("exp_avg", "exp_avg_sq")


# sgd: the paper's (Krizhevsky et al. 2012, section 5): momentum 0.9, weight decay 0.0005. adam and adamw: the
# defaults of torch.optim and optax, adamw with their default decoupled weight decay of 0.01 (torch) / 1e-4 (optax):
# ours is torch's.
OPTIMIZERS = {"sgd": OptimizerSettings("sgd", momentum=0.9, weight_decay=5e-4),
              "adam": OptimizerSettings("adam"),
              "adamw": OptimizerSettings("adamw", weight_decay=0.01)}


def optimizer_settings(name: str) -> OptimizerSettings:
    if name not in OPTIMIZERS:
        raise SpecError(Diagnostic(f"unknown optimizer {name!r}", file="--optimizer",
                                   expected=f"one of: {', '.join(OPTIMIZERS)}",
                                   hint="sgd is the paper's: momentum 0.9, weight decay 0.0005"))
    return OPTIMIZERS[name]
