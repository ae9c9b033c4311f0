"""The rhythm gate: its split of the supraventricular output, and its fit on RR features of held-out patients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meddl.data.ecg_beats import RR_FEATURE_NAMES
from meddl.models.rhythm_gate import THRESHOLDS, RhythmGate, fit_rhythm_gate


def test_gate_splits_the_supraventricular_probability_by_its_logistic_model():
    torch.manual_seed(0)
    weight, bias = [0.0, 0.0, 0.0, 1.5, -2.0, 0.5, 0.0], 0.3
    gate = RhythmGate(weight, bias, threshold=0.5)
    logits, features = torch.randn(16, 3), torch.randn(16, 7)
    probs = torch.softmax(gate(logits, features), dim=1)
    merged = torch.softmax(logits, dim=1)
    assert torch.allclose(probs[:, 0] + probs[:, 1], merged[:, 0], atol=1e-6)
    assert torch.allclose(probs[:, 2:], merged[:, 1:], atol=1e-6)
    share_s = torch.sigmoid(features @ torch.tensor(weight) + bias)
    assert torch.allclose(probs[:, 1] / merged[:, 0], share_s, atol=1e-5)


def _beats(rng: np.random.Generator, records: list[str], n_normal: int = 400, n_premature: int = 30):
    """RR features of synthetic patients: normal beats at ~1.0 of the patient's rhythm, premature ones at ~0.7;
    each patient's absolute rate differs, the normalised intervals do not."""
    rows, labels, names = [], [], []
    for record in records:
        rate = rng.uniform(0.6, 1.2)
        for label, count, centre in ((0, n_normal, 1.0), (1, n_premature, 0.7)):
            norm = rng.normal(centre, 0.06, size=(count, 1)) * np.ones((1, 3))
            norm[:, 1] = rng.normal(1.0 if label == 0 else 1.2, 0.1, size=count)  # compensatory pause after S
            seconds = norm * rate
            ratio = norm[:, :1] / rng.normal(1.0, 0.03, size=(count, 1))
            rows.append(np.column_stack([seconds, ratio, norm]))
            labels.append(np.full(count, label))
            names.append(np.full(count, record))
    return np.concatenate(rows).astype(np.float32), np.concatenate(labels), np.concatenate(names)


def test_fit_on_training_patients_finds_premature_beats_of_new_patients():
    rng = np.random.default_rng(0)
    features, labels, records = _beats(rng, [f"r{i}" for i in range(6)])
    fit = fit_rhythm_gate(features, labels, records, RR_FEATURE_NAMES)
    assert fit is not None and fit.grouped_by == "record" and fit.folds == 5
    assert fit.threshold in THRESHOLDS and fit.cv_f1 > 0.9
    # the absolute intervals (seconds) are left out: they differ between patients more than between N and S
    assert fit.weight[:3] == [0.0, 0.0, 0.0] and any(fit.weight[3:])
    new_features, new_labels, _ = _beats(rng, ["new"])
    logit = new_features @ np.asarray(fit.weight) + fit.bias
    called_s = logit > 0
    sensitivity = called_s[new_labels == 1].mean()
    ppv = new_labels[called_s].mean()
    assert sensitivity > 0.85 and ppv > 0.85


def test_fit_falls_back_to_beat_folds_for_one_patient_and_declines_without_s_beats():
    rng = np.random.default_rng(1)
    features, labels, records = _beats(rng, ["only"])
    fit = fit_rhythm_gate(features, labels, records, RR_FEATURE_NAMES)
    assert fit is not None and fit.grouped_by == "beat"
    assert fit_rhythm_gate(features[labels == 0], labels[labels == 0], records[labels == 0], RR_FEATURE_NAMES) is None
    assert fit_rhythm_gate(features[:, :3], labels, records, RR_FEATURE_NAMES[:3]) is None


@pytest.mark.parametrize("split, value, used", [
    ("inter-patient", None, True), ("intra-patient", None, False), ("intra-patient", "auto", False),
    ("intra-patient", "true", True), ("inter-patient", "false", False),
])
def test_rhythm_gate_is_on_by_default_only_for_patients_the_model_has_not_seen(split, value, used):
    from meddl.data.ecg_options import EcgOptions

    options = {"split": split, **({"rhythm_gate": value} if value is not None else {})}
    assert EcgOptions.parse(options).use_rhythm_gate is used


def test_rhythm_gate_option_rejects_other_values():
    from meddl.data.ecg_options import EcgOptions
    from meddl.errors import ConfigError

    with pytest.raises(ConfigError, match="rhythm_gate='sometimes': expected true, false or auto"):
        EcgOptions.parse({"rhythm_gate": "sometimes"})
    with pytest.raises(ConfigError, match="rhythm_gate=true needs rr_features=true"):
        EcgOptions.parse({"rhythm_gate": "true", "rr_features": "false"})
    assert not EcgOptions.parse({"rr_features": "false"}).rhythm_gate  # auto: no features, no gate, no error
