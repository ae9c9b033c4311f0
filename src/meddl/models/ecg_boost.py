"""Gradient-boosted trees on per-beat rhythm and morphology features, fitted by scikit-learn and run in torch.

Inter-patient, a beat's class is told less by its raw waveform (which differs from patient to patient) than by how
it differs from its own patient's rhythm and dominant beat: earliness relative to the local median RR, the local
irregularity (atrial fibrillation), and correlation with / size relative to the record's median beat
(`meddl.data.ecg_features`). Class-weighted gradient boosting on such features is what the inter-patient
literature found strong (e.g. Shi et al. 2019, Mondejar-Guerra et al. 2019).

`fit_beat_boost` fits scikit-learn's HistGradientBoostingClassifier on the training beats and chooses per-class
logit offsets (the decision rule) on record-grouped cross-validation of those beats only (`meddl.data.ecg_cv`).
`BeatBoost` then holds the trees as tensor buffers and walks them in torch, so a checkpoint holds tensors and plain
numbers only and loads with `torch.load(weights_only=True)`. Reading the fitted trees uses the estimator's
`_predictors` (each a `TreePredictor` whose `nodes` array holds feature, threshold, children and leaf value):
scikit-learn offers no public export of histogram-boosted trees; a test checks the torch walk against
`predict_proba`, so a change there fails loudly rather than silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from meddl.errors import ConfigError
from meddl.models.registry import register_model

# Patient-relative features only: absolute RR in seconds and the beat-minus-template bins differ more between
# patients than between classes. Record-grouped 6-fold CV on MIT-BIH DS1 (offsets tuned), macro-F1 N/S/V/F:
# these 30 features 0.604 (N/S/V 0.773); without the shape bins 0.604 (0.764); with the difference bins too 0.574.
DEFAULT_FEATURES: tuple[str, ...] = (
    "rr_ratio", "pre_rr_norm", "post_rr_norm", "local_rr_norm", "pre_rr_median", "post_rr_median", "post_pre_ratio",
    "rr_irregularity", "corr_template", "corr_qrs", "corr_p", "diff_rms", "qrs_ptp_ratio", "qrs_energy_ratio",
    "qrs_width_s", "qrs_width_ratio", "r_value_ratio", "beat_std_ratio", *(f"shape_{i}" for i in range(12)),
)  # fmt: skip
OFFSET_GRID = tuple(np.round(np.arange(-4.0, 4.01, 0.25), 2))
OFFSET_ROUNDS = 3


@dataclass(frozen=True)
class BoostSettings:
    """Hyper-parameters of the trees, chosen by record-grouped CV on MIT-BIH DS1 (see the module docstring):
    shallow, regularised trees generalise across patients better than deep ones (depth 4 / 100-beat leaves: 0.604;
    depth 3 / 300: 0.600; sklearn's defaults of 31 leaves: 0.54 before tuning the offsets)."""

    max_iter: int = 150
    learning_rate: float = 0.05
    max_depth: int = 4
    min_samples_leaf: int = 100
    l2_regularization: float = 1.0
    folds: int = 5
    features: tuple[str, ...] = DEFAULT_FEATURES


@dataclass(frozen=True)
class BoostFit:
    """A fitted ensemble as arrays (trees x nodes) plus how its decision rule was chosen; `to_model_kwargs` gives
    the model's build arguments (shapes and plain numbers), `arrays` the buffers' values."""

    columns: list[int]
    n_classes: int
    n_nodes: int
    depth: int
    baseline: list[float]
    offsets: list[float]
    cv: dict
    arrays: dict = field(repr=False)

    def to_model_kwargs(self) -> dict:
        summary = {key: value for key, value in asdict(self).items() if key != "arrays"}
        summary["n_trees"] = int(self.arrays["feature"].shape[0])
        return summary


def _tree_arrays(model, n_classes: int) -> dict[str, np.ndarray]:
    """The fitted trees as (trees, nodes) arrays, tree t adding to class t % n_classes. A leaf points to itself, so
    walking `depth` steps from the root ends on a leaf for every tree."""
    trees = [predictor.nodes for iteration in model._predictors for predictor in iteration]
    n_nodes = max(len(nodes) for nodes in trees)
    shape = (len(trees), n_nodes)
    arrays = {"feature": np.zeros(shape, np.int64), "threshold": np.zeros(shape, np.float64),
              "left": np.zeros(shape, np.int64), "right": np.zeros(shape, np.int64),
              "missing_left": np.zeros(shape, bool), "value": np.zeros(shape, np.float64)}  # fmt: skip
    for t, nodes in enumerate(trees):
        k = len(nodes)
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(k)
        arrays["feature"][t, :k] = nodes["feature_idx"]
        arrays["threshold"][t, :k] = nodes["num_threshold"]
        arrays["left"][t, :k] = np.where(leaf, own, nodes["left"])
        arrays["right"][t, :k] = np.where(leaf, own, nodes["right"])
        arrays["missing_left"][t, :k] = nodes["missing_go_to_left"].astype(bool)
        arrays["value"][t, :k] = np.where(leaf, nodes["value"], 0.0)
    return arrays


def _classifier(settings: BoostSettings, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=settings.max_iter, learning_rate=settings.learning_rate, max_depth=settings.max_depth,
        min_samples_leaf=settings.min_samples_leaf, l2_regularization=settings.l2_regularization,
        class_weight="balanced", early_stopping=False, random_state=seed,
    )  # fmt: skip


def macro_f1(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class F1 over classes 0..n_classes-1 (0 for a class never predicted nor present)."""
    from sklearn.metrics import f1_score

    return f1_score(labels, predicted, labels=list(range(n_classes)), average=None, zero_division=0)


def choose_offsets(log_proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class additive logit offsets (class 0 fixed at 0) maximising macro-F1 of the argmax, by coordinate
    ascent over a grid: the balanced class weights over-call the rare classes on new patients, and the right
    correction is found on held-out patients, not assumed."""
    n_classes = log_proba.shape[1]
    offsets = np.zeros(n_classes)
    for _ in range(OFFSET_ROUNDS):
        for k in range(1, n_classes):
            def score(value: float) -> float:
                trial = offsets.copy()
                trial[k] = value
                return float(macro_f1(labels, (log_proba + trial).argmax(axis=1), n_classes).mean())

            offsets[k] = max(OFFSET_GRID, key=score)
    return offsets


def fit_beat_boost(features: np.ndarray, labels: np.ndarray, records: np.ndarray, feature_names: tuple[str, ...],
                   n_classes: int, seed: int = 0, settings: BoostSettings = BoostSettings()) -> BoostFit:  # fmt: skip
    """Trees on the training beats, and logit offsets chosen on out-of-fold predictions of `settings.folds`
    record-grouped folds of those same beats. Nothing but the arguments is read: pass the training split only."""
    from meddl.data.ecg_cv import record_folds

    missing = [name for name in settings.features if name not in feature_names]
    if missing:
        raise ConfigError(f"model ecg-boost needs the per-beat features {', '.join(missing)}; load the data with "
                          "-O rr_features=true -O morphology=true")  # fmt: skip
    columns = [feature_names.index(name) for name in settings.features]
    x = np.asarray(features, dtype=np.float64)[:, columns]
    log_proba = np.zeros((len(labels), n_classes))
    n_records = len(np.unique(records))
    if n_records < 2:
        raise ConfigError("model ecg-boost chooses its decision rule on held-out records and needs at least 2 "
                          "training records; for one record use --model cnn-lstm --epochs 10")  # fmt: skip
    folds = record_folds(records, min(settings.folds, n_records))
    for fit, held in folds:
        model = _classifier(settings, seed).fit(x[fit], labels[fit])
        proba = np.full((len(held), n_classes), 1e-12)  # a class absent from a fold's training records
        proba[:, model.classes_] = model.predict_proba(x[held])
        log_proba[held] = np.log(np.clip(proba, 1e-12, 1.0))
    offsets = choose_offsets(log_proba, labels)
    before = macro_f1(labels, log_proba.argmax(axis=1), n_classes)
    after = macro_f1(labels, (log_proba + offsets).argmax(axis=1), n_classes)
    model = _classifier(settings, seed).fit(x, labels)
    if len(model.classes_) != n_classes:
        raise ConfigError(f"model ecg-boost: the training split holds {len(model.classes_)} of the {n_classes} "
                          "classes; every class needs training beats")  # fmt: skip
    arrays = _tree_arrays(model, n_classes)
    depth = int(max(predictor.nodes["depth"].max() for it in model._predictors for predictor in it))
    cv = {"folds": len(folds), "grouped_by": "record", "f1_before_offsets": [round(float(f), 4) for f in before],
          "f1": [round(float(f), 4) for f in after], "macro_f1": round(float(after.mean()), 4),
          "settings": {key: value for key, value in asdict(settings).items() if key != "features"}}  # fmt: skip
    return BoostFit(columns=columns, n_classes=n_classes, n_nodes=int(arrays["feature"].shape[1]), depth=depth,
                    baseline=[float(b) for b in np.ravel(model._baseline_prediction)],
                    offsets=[float(o) for o in offsets], cv=cv, arrays=arrays)  # fmt: skip


class BeatBoost(nn.Module):
    """Logits (B, K) = (baseline + sum of the trees of each class + the cross-validated offsets) / temperature, from
    the per-beat features; the beat windows are not read. Built empty from the shapes (as a checkpoint rebuilds it),
    then filled by `load_fit` or by `load_state_dict`.

    The temperature is the one parameter left to gradient training (the Lightning epoch of `meddl train`): it
    calibrates the probabilities the report and the bootstrap read and cannot change any beat's predicted class,
    which the trees and the offsets fix."""

    def __init__(self, columns: list[int], n_classes: int, n_trees: int, n_nodes: int, depth: int,
                 baseline: list[float], offsets: list[float], **_record):  # fmt: skip
        # `_record`: the CV figures, kept in hparams as a record of how the offsets were chosen; they do not act.
        super().__init__()
        self.n_classes, self.depth = n_classes, depth
        shape = (n_trees, n_nodes)
        self.register_buffer("columns", torch.tensor(columns, dtype=torch.long))
        self.register_buffer("bias", torch.tensor(baseline, dtype=torch.float64) + torch.tensor(offsets,
                                                                                               dtype=torch.float64))
        for name, dtype in (("feature", torch.long), ("left", torch.long), ("right", torch.long),
                            ("threshold", torch.float64), ("value", torch.float64), ("missing_left", torch.bool)):
            self.register_buffer(name, torch.zeros(shape, dtype=dtype))  # fmt: skip
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def load_fit(self, fit: BoostFit) -> None:
        for name, array in fit.arrays.items():
            getattr(self, name).copy_(torch.from_numpy(array))

    def forward(self, signals: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        if features is None:
            raise ValueError("ecg-boost classifies from the per-beat features; pass features=(B, F)")
        x = features.to(torch.float64)[:, self.columns]
        n_trees = self.feature.shape[0]
        trees = torch.arange(n_trees, device=x.device)
        node = torch.zeros((len(x), n_trees), dtype=torch.long, device=x.device)
        for _ in range(self.depth):
            values = x.gather(1, self.feature[trees, node])
            left = torch.where(values.isnan(), self.missing_left[trees, node], values <= self.threshold[trees, node])
            node = torch.where(left, self.left[trees, node], self.right[trees, node])
        leaves = self.value[trees, node].view(len(x), -1, self.n_classes).sum(dim=1)
        return (leaves + self.bias).to(signals.dtype) * torch.exp(-self.log_temperature).to(signals.dtype)


@register_model("ecg-boost", "ecg", "Class-weighted gradient-boosted trees (scikit-learn, fitted before training "
                "and stored as tensors) on patient-relative RR and morphology features; the ECG default", "beats")
def ecg_boost(in_channels: int, num_classes: int, length: int = 252, n_features: int = 0, **fit) -> nn.Module:
    if not fit:
        raise ConfigError("model ecg-boost is fitted from the training data by the sequence task; build it through "
                          "`meddl train` (its trees come from the data, not from defaults)")  # fmt: skip
    return BeatBoost(**fit)
