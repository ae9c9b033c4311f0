"""Collapse detection: notice when adversarial training has failed instead of silently training on.

Two failures are watched, once per epoch:
- the discriminator wins: its non-saturating loss stays near 0 (it rejects every fake with certainty), so G's
  gradients vanish and G stops learning;
- coverage collapses: samples drawn for one class (or for the whole set, unconditionally) from a fixed batch of
  latents become near-identical. Their mean pairwise distance, divided by the same figure for real images of that
  class, falls below `min_diversity` (real images differ from each other; a collapsed G repeats one image).
A warning is raised the first epoch a signal appears; if some signal persists for `patience` consecutive epochs the
detector asks training to stop, with a message that says which and what to try.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Mean Euclidean distance between all pairs of images (any shape per image; values on a common scale)."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if len(flat) < 2:
        return 0.0
    squared = (flat ** 2).sum(1)
    d2 = np.clip(squared[:, None] + squared[None, :] - 2 * flat @ flat.T, 0, None)
    upper = np.triu_indices(len(flat), k=1)
    return float(np.sqrt(d2[upper]).mean())


@dataclass
class CollapseDetector:
    """Per-epoch collapse checks; `update` returns this epoch's warnings, `should_stop` says when to give up."""

    d_loss_floor: float = 0.05
    min_diversity: float = 0.1
    patience: int = 3
    real_diversity: dict[str, float] = field(default_factory=dict)  # class name -> real mean pairwise distance
    events: list[dict] = field(default_factory=list)
    streak: int = 0
    stop_reason: str | None = None

    def update(self, epoch: int, d_loss: float | None, fakes: dict[str, np.ndarray] | None = None) -> list[str]:
        """Check one epoch: `d_loss` is D's mean non-saturating loss (None for WGAN-GP, where it has no floor);
        `fakes` maps class name -> samples from the fixed latents, on the scale of the real images."""
        warnings = []
        if d_loss is not None and d_loss < self.d_loss_floor:
            warnings.append(f"discriminator loss {d_loss:.4f} is below {self.d_loss_floor}: D rejects every fake, "
                            "so the generator's gradients vanish")
        for name, samples in (fakes or {}).items():
            real = self.real_diversity.get(name)
            if not real:
                continue
            ratio = mean_pairwise_distance(samples) / real
            if ratio < self.min_diversity:
                warnings.append(f"class {name!r}: samples are near-identical (diversity {ratio:.2f} of the real "
                                f"images', below {self.min_diversity})")
        self.streak = self.streak + 1 if warnings else 0
        for message in warnings:
            self.events.append({"epoch": epoch, "message": message})
        if self.streak >= self.patience and self.stop_reason is None:
            self.stop_reason = (f"training stopped at epoch {epoch}: collapse signals for {self.streak} epochs in a "
                                f"row ({warnings[0]}). Try a lower discriminator learning rate (--lr-d), "
                                "--loss wgan-gp, or another --seed")
        return warnings

    @property
    def should_stop(self) -> bool:
        return self.stop_reason is not None

    def summary(self) -> dict | None:
        """What the run record and report show: None when nothing was ever detected."""
        if not self.events:
            return None
        return {"events": list(self.events), "stopped": self.should_stop, "reason": self.stop_reason}

    def state_dict(self) -> dict:
        return {"events": self.events, "streak": self.streak, "stop_reason": self.stop_reason}

    def load_state_dict(self, state: dict) -> None:
        self.events = list(state.get("events", []))
        self.streak = int(state.get("streak", 0))
        self.stop_reason = state.get("stop_reason")
