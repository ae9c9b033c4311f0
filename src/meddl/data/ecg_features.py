"""Per-beat morphology features measured against the record's own dominant beat.

Across patients, beat shapes differ more than the classes do: a V beat of one patient can look like the normal
beat of another. What generalises is how a beat differs from *this patient's* usual beat (de Chazal et al. 2004
and the later inter-patient studies normalise per record). The dominant beat is the sample median of every beat of
the record - unlabelled signal only, so it can be computed on a new patient's record as well - and most beats of
every MIT-BIH record are normal, which makes the median a normal beat.

Pure NumPy on the filtered, *un*-normalised windows of one record (amplitude matters: V beats are larger).
"""

from __future__ import annotations

import numpy as np

QRS_HALF_S = 0.06  # the QRS complex lasts 0.06-0.10 s: +-60 ms around the R peak holds it
P_WAVE_S = (0.25, 0.08)  # the P wave lies between 250 and 80 ms before the R peak
DOWNSAMPLED_BINS = 12  # beat shape as 12 means of ~58 ms each: coarse enough to be robust to small shifts
CONTEXT_BEATS = 20  # the local rhythm: the RR intervals of the 20 beats either side

RHYTHM_NAMES: tuple[str, ...] = ("pre_rr_median", "post_rr_median", "post_pre_ratio", "rr_irregularity")

MORPHOLOGY_NAMES: tuple[str, ...] = (
    "corr_template", "corr_qrs", "corr_p", "diff_rms", "qrs_ptp_ratio", "qrs_energy_ratio", "qrs_width_s",
    "qrs_width_ratio", "r_value_ratio", "beat_std_ratio",
    *(f"shape_{i}" for i in range(DOWNSAMPLED_BINS)), *(f"diff_{i}" for i in range(DOWNSAMPLED_BINS)),
)  # fmt: skip


def pre_post_rr(peaks: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Each beat's RR interval before and after it, in seconds (at least two peaks): the first beat takes its
    post-RR as pre-RR, the last its pre-RR as post-RR."""
    rr = np.diff(peaks) / fs
    return np.concatenate([rr[:1], rr]), np.concatenate([rr, rr[-1:]])


def rhythm_context_features(peaks: np.ndarray, fs: float) -> np.ndarray:
    """(N, len(RHYTHM_NAMES)) float32 from all beats' R-peak samples of one record: pre- and post-RR relative to
    the median RR of the surrounding beats, post-RR / pre-RR (the compensatory pause after an ectopic beat), and
    the local irregularity (median absolute change between successive RR intervals / median RR).

    The median is not pulled by the ectopic beats themselves, as a mean is; the irregularity tells atrial
    fibrillation, where every beat comes at a different time and earliness does not mean S, from a regular rhythm
    with premature beats."""
    n = len(peaks)
    if n < 3:
        return np.zeros((n, len(RHYTHM_NAMES)), dtype=np.float32)
    from numpy.lib.stride_tricks import sliding_window_view

    pre, post = pre_post_rr(peaks, fs)
    width = 2 * CONTEXT_BEATS + 1
    padded = np.pad(pre, CONTEXT_BEATS, mode="reflect" if n > CONTEXT_BEATS else "edge")
    windows = sliding_window_view(padded, width)[:n]
    median = np.maximum(np.median(windows, axis=1), 1e-6)
    irregularity = np.median(np.abs(np.diff(windows, axis=1)), axis=1) / median
    return np.stack([pre / median, post / median, post / np.maximum(pre, 1e-6), irregularity],
                    axis=1).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of `a` with the vector `b` (0 for a flat row)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean()
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum())
    return (a @ b) / np.maximum(denominator, 1e-12)


def _qrs_width(qrs: np.ndarray, fs: float) -> np.ndarray:
    """Seconds between the first and last sample whose slope exceeds a third of the beat's steepest slope: a
    wide, slurred QRS (V and F beats) keeps its slope high for longer."""
    slope = np.abs(np.diff(qrs, axis=1))
    steep = slope >= slope.max(axis=1, keepdims=True) / 3
    first = steep.argmax(axis=1)
    last = steep.shape[1] - 1 - steep[:, ::-1].argmax(axis=1)
    return (last - first + 1) / fs


def _binned(beats: np.ndarray, bins: int) -> np.ndarray:
    edges = np.linspace(0, beats.shape[1], bins + 1).astype(int)
    return np.stack([beats[:, lo:hi].mean(axis=1) for lo, hi in zip(edges[:-1], edges[1:])], axis=1)


def morphology_features(windows: np.ndarray, before: int, fs: float) -> np.ndarray:
    """(N, len(MORPHOLOGY_NAMES)) float32 for the beats of one record: windows (N, leads, T) filtered but not
    normalised, R peak at sample `before`; only the first lead is used.

    Ratios and differences are relative to the record's dominant (median) beat; the binned shape is of the beat
    scaled by the dominant beat's standard deviation, so it keeps the beat's size relative to the patient's usual one.
    """
    n = len(windows)
    if n == 0:
        return np.zeros((0, len(MORPHOLOGY_NAMES)), dtype=np.float32)
    beats = windows[:, 0, :].astype(np.float64)
    beats = beats - np.median(beats, axis=1, keepdims=True)  # baseline at each beat's median level
    template = np.median(beats, axis=0)
    half = max(1, round(QRS_HALF_S * fs))
    qrs = slice(max(0, before - half), before + half + 1)
    p_wave = slice(max(0, before - round(P_WAVE_S[0] * fs)), max(1, before - round(P_WAVE_S[1] * fs)))
    scale = max(float(template.std()), 1e-9)
    ptp = np.ptp(beats[:, qrs], axis=1)
    energy = (beats[:, qrs] ** 2).sum(axis=1)
    width = _qrs_width(beats[:, qrs], fs)
    template_width = _qrs_width(template[None, qrs], fs)[0]
    scaled = beats / scale
    difference = scaled - template / scale
    columns = [
        _correlation(beats, template),
        _correlation(beats[:, qrs], template[qrs]),
        _correlation(beats[:, p_wave], template[p_wave]),
        np.sqrt((difference**2).mean(axis=1)),
        ptp / max(float(np.ptp(template[qrs])), 1e-9),
        energy / max(float((template[qrs] ** 2).sum()), 1e-12),
        width,
        width / template_width,
        beats[:, before] / max(abs(float(template[before])), 1e-9),
        beats.std(axis=1) / scale,
    ]
    return np.concatenate([np.stack(columns, axis=1), _binned(scaled, DOWNSAMPLED_BINS),
                           _binned(difference, DOWNSAMPLED_BINS)], axis=1).astype(np.float32)  # fmt: skip
