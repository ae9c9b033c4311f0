"""The rhythm gate: an ECG network's supraventricular output split into N and S by rhythm alone.

A supraventricular ectopic beat (S) is conducted through the ventricles like a normal one, so its QRS complex looks
normal; what marks it is that it comes early for *this* patient's rhythm. Trained across patients, a network learns
the morphology of the few training patients' S beats instead, and on new patients calls nearly all S beats normal
(inter-patient S sensitivity 13% for meddl's CNN+LSTM on MIT-BIH DS2). The gate follows the clinical reasoning:
the network decides supraventricular vs V vs F from the waveform and the RR intervals, and a logistic model of the
patient-normalised RR intervals alone decides N vs S. This is the linear-classifier-on-RR-features approach of
de Chazal et al. 2004 used where it is strong, inside one network whose output is an ordinary (B, K) logit tensor.

The logistic model is fitted with scikit-learn (class-balanced, convex, seconds) on the training beats before the
network trains; its decision threshold is the one maximising S F1 over grouped cross-validation by record, so it is
chosen on held-out *patients* of the training set and never on validation or test beats. The gate's parameters are
then fixed buffers of the model and travel in the checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from meddl.models.fitted_logistic import fit_logistic_on_raw_scale, standardised

# Patient-normalised intervals only: absolute RR in seconds differs more between patients than between N and S.
GATE_FEATURES = ("rr_ratio", "pre_rr_norm", "post_rr_norm", "local_rr_norm")
THRESHOLDS = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2))
MAX_FOLDS = 5


@dataclass(frozen=True)
class RhythmGateFit:
    """A fitted gate: S-vs-N logit = features @ weight + bias (over the model's full feature vector, zeros for the
    features it ignores), with the cross-validated threshold already folded into `bias`; and how it was chosen."""

    weight: list[float]
    bias: float
    threshold: float
    cv_sensitivity: float
    cv_ppv: float
    cv_f1: float
    folds: int
    grouped_by: str

    def to_dict(self) -> dict:
        return asdict(self)


class RhythmGate(nn.Module):
    """Logits (B, K-1) over (supraventricular, the other classes...) -> (B, K) over (N, S, the other classes...):
    log p(N) = log p(SVEB or N) + log(1 - s), log p(S) = log p(SVEB or N) + log s, s = sigmoid(gate logit)."""

    def __init__(self, weight: list[float], bias: float, **_fit_details):
        # A `RhythmGateFit.to_dict()`: only weight and bias act; threshold and CV figures stay in hparams as record.
        super().__init__()
        self.register_buffer("weight", torch.tensor(weight, dtype=torch.float32))
        self.register_buffer("bias", torch.tensor(float(bias), dtype=torch.float32))

    def forward(self, logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        gate = features.to(self.weight.dtype) @ self.weight + self.bias
        gate = gate.to(logits.dtype).unsqueeze(1)
        supraventricular = logits[:, :1]
        return torch.cat([supraventricular + F.logsigmoid(-gate), supraventricular + F.logsigmoid(gate),
                          logits[:, 1:]], dim=1)  # fmt: skip


def fit_rhythm_gate(features: np.ndarray, labels: np.ndarray, records: np.ndarray,
                    feature_names: tuple[str, ...], seed: int = 0) -> RhythmGateFit | None:  # fmt: skip
    """The gate for training beats whose labels start N (0), S (1); None when it cannot be fitted (no RR features,
    or fewer than 10 S beats), and the model then keeps its plain K-class head."""
    from sklearn.linear_model import LogisticRegression

    if not set(GATE_FEATURES) <= set(feature_names):
        return None
    columns = [feature_names.index(name) for name in GATE_FEATURES]
    keep = labels <= 1
    x = features[keep][:, columns].astype(np.float64)
    y = (labels[keep] == 1).astype(np.int64)
    if y.sum() < 10 or (1 - y).sum() < 10:
        return None
    z, _, _ = standardised(x)
    folds, grouped_by = _folds(y, records[keep], seed)
    scores = np.zeros(len(y))
    for train, held_out in folds:
        fold_model = LogisticRegression(class_weight="balanced", max_iter=5000).fit(z[train], y[train])
        scores[held_out] = fold_model.predict_proba(z[held_out])[:, 1]
    threshold, (sensitivity, ppv, f1) = max(((t, _s_scores(y, scores >= t)) for t in THRESHOLDS),
                                            key=lambda item: item[1][2])  # fmt: skip
    _, coef, intercept = fit_logistic_on_raw_scale(x, y, class_weight="balanced")
    weight = np.zeros(len(feature_names))
    weight[columns] = coef[0]
    bias = float(intercept[0] - np.log(threshold / (1 - threshold)))
    return RhythmGateFit(weight=[float(w) for w in weight], bias=bias, threshold=float(threshold),
                         cv_sensitivity=round(sensitivity, 4), cv_ppv=round(ppv, 4), cv_f1=round(f1, 4),
                         folds=len(folds), grouped_by=grouped_by)  # fmt: skip


def _folds(y: np.ndarray, records: np.ndarray, seed: int) -> tuple[list, str]:
    """Grouped by record when at least 3 records hold S beats (held-out patients, as the gate will meet them);
    otherwise stratified by beat."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    with_s = np.unique(records[y == 1])
    if len(with_s) >= 3:
        splitter = GroupKFold(n_splits=min(MAX_FOLDS, len(with_s)))
        return list(splitter.split(y, y, groups=records)), "record"
    splitter = StratifiedKFold(n_splits=min(MAX_FOLDS, int(y.sum())), shuffle=True, random_state=seed)
    return list(splitter.split(y, y)), "beat"


def _s_scores(y: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    """(sensitivity, positive predictive value, F1) of the S class."""
    true_positives = float((predicted & (y == 1)).sum())
    sensitivity = true_positives / max(int(y.sum()), 1)
    ppv = true_positives / max(int(predicted.sum()), 1)
    f1 = 2 * sensitivity * ppv / (sensitivity + ppv) if sensitivity + ppv else 0.0
    return sensitivity, ppv, f1
