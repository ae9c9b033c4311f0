"""From one ECG record to labelled beats: AAMI classes, band-pass filter, R-peak-centred windows, RR intervals.

Pure array code (NumPy, SciPy's filter), independent of where records come from, so every step can be checked on a
synthetic record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meddl.data.ecg_features import morphology_features, pre_post_rr, rhythm_context_features
from meddl.errors import ConfigError, DataError

# AAMI EC57 (as used by de Chazal et al. 2004): MIT-BIH beat symbols -> the five heartbeat classes. B, n, r and ?
# do not occur in the MIT-BIH Arrhythmia Database but do in other WFDB databases a user may bring.
AAMI_CLASSES: dict[str, str] = {
    **dict.fromkeys("NLRejB", "N"),  # normal, bundle branch block, atrial/nodal escape
    **dict.fromkeys("AaJSn", "S"),  # supraventricular ectopic
    **dict.fromkeys("VEr", "V"),  # ventricular ectopic
    "F": "F",  # fusion of ventricular and normal
    **dict.fromkeys("/fQ?", "Q"),  # paced, fusion of paced and normal, unclassifiable
}
# WFDB annotation codes that mark no QRS complex (rhythm, noise, waves, comments): skipped without complaint.
NON_BEAT_SYMBOLS: frozenset[str] = frozenset(["+", "~", "|", '"', "!", "[", "]", "x", "(", ")", "p", "t", "u", "`",
                                              "'", "^", "@", "=", "s", "T", "*", "D"])  # fmt: skip
RR_FEATURE_NAMES: tuple[str, ...] = ("pre_rr_s", "post_rr_s", "local_rr_s", "rr_ratio", "pre_rr_norm",
                                     "post_rr_norm", "local_rr_norm")
LOCAL_RR_BEATS = 10
AVERAGE_RR_WINDOW_S = 300.0  # de Chazal et al. 2004: RR intervals relative to the patient's average over ~5 minutes


@dataclass(frozen=True)
class RecordBeats:
    """The beats of one record: windows (N, leads, T) float32, AAMI class letters (N,), per-beat features (N, F)
    float32 (RR intervals, then the morphology features when asked), and how many beats were left out because their
    window would run past either end of the record."""

    record: str
    signals: np.ndarray
    classes: np.ndarray
    features: np.ndarray
    skipped_at_edges: int


def beat_classes(record: str, samples: np.ndarray, symbols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The beat annotations among all annotations: (R-peak sample indices, AAMI class letters).

    Raises DataError for a symbol that is neither a beat nor a known non-beat code, naming record and sample.
    """
    keep, classes = [], []
    for index, (sample, symbol) in enumerate(zip(samples, symbols)):
        if symbol in AAMI_CLASSES:
            keep.append(index)
            classes.append(AAMI_CLASSES[symbol])
        elif symbol not in NON_BEAT_SYMBOLS:
            raise DataError(
                f"record {record}: unknown annotation symbol {symbol!r} at sample {int(sample)}; expected a beat "
                f"({''.join(sorted(AAMI_CLASSES))}) or a non-beat code ({''.join(sorted(NON_BEAT_SYMBOLS))})"
            )
    return np.asarray(samples, dtype=np.int64)[keep], np.asarray(classes, dtype="<U1")


def bandpass(signal: np.ndarray, fs: float, low: float, high: float, order: int = 3) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (samples): removes baseline wander below `low` Hz and muscle
    noise and mains hum above `high` Hz without shifting the waves in time (forward-backward filtering)."""
    from scipy.signal import butter, sosfiltfilt

    if not 0 < low < high < fs / 2:
        raise ConfigError(f"bandpass ({low}, {high}) Hz: expected 0 < low < high < {fs / 2:g} (half of {fs:g} Hz)")
    sos = butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    return sosfiltfilt(sos, signal, axis=0)


def beat_windows(signal: np.ndarray, peaks: np.ndarray, before: int, after: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `before` samples before and `after` samples from each R peak: (N, leads, before + after) and the
    mask of peaks whose full window lies inside the record (the others are left out)."""
    inside = (peaks - before >= 0) & (peaks + after <= len(signal))
    index = peaks[inside][:, None] + np.arange(-before, after)[None, :]
    return np.ascontiguousarray(signal[index].transpose(0, 2, 1)), inside


def zscore(windows: np.ndarray) -> np.ndarray:
    """Each beat and lead scaled to zero mean and unit variance: removes gain differences between patients."""
    mean = windows.mean(axis=-1, keepdims=True)
    std = windows.std(axis=-1, keepdims=True)
    return (windows - mean) / np.maximum(std, 1e-6)


def rr_features(peaks: np.ndarray, fs: float) -> np.ndarray:
    """Per beat, in seconds: pre-RR, post-RR, local average RR (mean pre-RR of this and the 9 beats before it) and
    pre-RR / local RR; then pre-, post- and local RR divided by the patient's average RR over the 5 minutes centred
    on the beat. The first beat takes its post-RR as pre-RR, the last its pre-RR as post-RR.

    The normalised intervals are what makes inter-patient S detection possible: a premature beat is short
    relative to *this* patient's rhythm, and heart rates differ more between patients than between N and S beats."""
    n = len(peaks)
    if n < 2:
        return np.zeros((n, len(RR_FEATURE_NAMES)), dtype=np.float32)
    pre, post = pre_post_rr(peaks, fs)
    sums = np.concatenate([[0.0], np.cumsum(pre)])
    start = np.maximum(np.arange(n) - LOCAL_RR_BEATS + 1, 0)
    local = (sums[1:] - sums[start]) / (np.arange(n) + 1 - start)
    ratio = pre / np.maximum(local, 1e-6)
    times = peaks / fs
    half = AVERAGE_RR_WINDOW_S / 2
    first = np.searchsorted(times, times - half, side="left")
    last = np.searchsorted(times, times + half, side="right")
    average = (sums[last] - sums[first]) / np.maximum(last - first, 1)
    average = np.maximum(average, 1e-6)
    return np.stack([pre, post, local, ratio, pre / average, post / average, local / average],
                    axis=1).astype(np.float32)


def record_beats(
    record: str,
    signal: np.ndarray,
    fs: float,
    samples: np.ndarray,
    symbols: list[str],
    before_s: float,
    after_s: float,
    band: tuple[float, float] | None,
    normalise: bool,
    morphology: bool = False,
) -> RecordBeats:
    """All beats of one record (signal: (samples, leads) in physical units) as filtered, normalised windows.

    RR intervals are measured over every annotated beat (paced and unclassifiable ones included), before beats
    near the edges are dropped, so a beat's neighbours are the true ones. `morphology` appends the local-rhythm
    and morphology features of `meddl.data.ecg_features`, the latter measured on the filtered windows before
    normalisation.
    """
    peaks, classes = beat_classes(record, samples, symbols)
    features = rr_features(peaks, fs)
    if morphology:
        features = np.concatenate([features, rhythm_context_features(peaks, fs)], axis=1)
    if band is not None:
        signal = bandpass(signal, fs, *band)
    before = round(before_s * fs)
    windows, inside = beat_windows(signal, peaks, before, round(after_s * fs))
    features = features[inside]
    if morphology:
        features = np.concatenate([features, morphology_features(windows, before, fs)], axis=1)
    if normalise:
        windows = zscore(windows)
    return RecordBeats(record, windows.astype(np.float32), classes[inside], features, int((~inside).sum()))
