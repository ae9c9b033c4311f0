"""How training shows its progress: Lightning's progress bar on a terminal; elsewhere (a log file, a pipe, a batch
job) one plain line per epoch, since a bar redrawn with carriage returns turns a log into one unreadable line."""

from __future__ import annotations

import sys
import time

HIDDEN = ("val_selection",)  # the model-selection figure: val_auc or val_macro_f1 again, with a tie-break


def shows_bars() -> bool:
    """Whether a progress bar can redraw itself here: in a notebook, or where both output streams are a terminal."""
    if "ipykernel" in sys.modules:
        return True
    return all(stream is not None and stream.isatty() for stream in (sys.stdout, sys.stderr))


def epoch_figures(trainer) -> dict[str, float]:
    """Every epoch-level train_*/val_* figure the module logged, as numbers."""
    return {key: float(value) for key, value in sorted(trainer.callback_metrics.items())
            if key.startswith(("train_", "val_")) and getattr(value, "numel", lambda: 1)() == 1}


def epoch_line(epoch: int, epochs: int, figures: dict[str, float], seconds: float) -> str:
    """"epoch 2/10  train_loss 0.4123  val_auc 0.8710  12.3 s": the epoch's train_* figures, then its val_* ones."""
    shown = sorted((key for key in figures if key not in HIDDEN), key=lambda key: (not key.startswith("train_"), key))
    return "  ".join([f"epoch {epoch}/{epochs}", *(f"{key} {figures[key]:.4f}" for key in shown), f"{seconds:.1f} s"])


def epoch_lines():
    """A Lightning callback printing `epoch_line` to stdout after each epoch's validation (on rank 0 only)."""
    import lightning as L

    class EpochLines(L.Callback):
        def on_train_start(self, trainer, module) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module) -> None:
            if trainer.sanity_checking or not trainer.is_global_zero:
                return
            print(epoch_line(trainer.current_epoch + 1, trainer.max_epochs, epoch_figures(trainer),
                             time.perf_counter() - self.start), flush=True)

    return EpochLines()
