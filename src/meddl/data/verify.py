"""`meddl data verify`: the checks that catch the data problems users keep finding too late.

Counts per split and class (multi-label counted per label), constant and all-zero images, exact and near-duplicate
images across splits, and patients (or records, or source documents) that appear in more than one split. Exact
duplicates and shared patients across splits are leakage: a test score measured on them is optimistic.

Near-duplicates are found in two steps: a difference hash (dHash: 8x9 area-downsampled grey image, one bit per
horizontal gradient sign) within a few bits proposes candidate pairs, and a mean absolute pixel difference of at most
`near_mad` grey levels confirms them. The hash alone is not enough on small medical images: on 28x28 fundus photographs
hundreds of unrelated pairs share a hash, because the images differ in texture, not in their coarse gradients. The
hash is hand-written rather than taken from `imagehash` because that library hashes one
PIL image at a time (minutes for 100k images); here all images of a split are hashed in one tensor operation and
compared split against split with NumPy's bit counting.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from meddl.data.types import SPLITS, ImageSplits, Splits
from meddl.errors import ConfigError

MAX_LISTED = 20  # findings listed one by one in the JSON; all are counted
VOLUME_RELATIVE_DIFFERENCE = 0.05  # two volumes are near copies only within 5% of their mean intensity
GROUP_NAMES = {"image": "patient", "ecg": "record", "text": "document"}  # what `Splits.groups` names, by kind


@dataclass
class Finding:
    """One problem sample (or pair): where it is, and what is wrong."""

    kind: str  # constant | all-zero | exact-duplicate | near-duplicate | shared-patient
    detail: str
    samples: list[str]


@dataclass
class VerifyReport:
    dataset: str
    kind: str
    task: str
    labels: list[str]
    counts: dict[str, dict[str, int]]
    constant_images: int = 0
    all_zero_images: int = 0
    exact_duplicates_across_splits: int = 0
    near_duplicates_across_splits: int = 0
    exact_duplicates_within_splits: int = 0
    shared_groups: int = 0
    group_name: str = ""
    findings: list[Finding] = field(default_factory=list)
    near_threshold: int = 0
    near_mad: float = 0.0
    seconds: float = 0.0

    @property
    def leakage(self) -> bool:
        """Images or patients shared between splits: the test split is not independent of training."""
        return (self.exact_duplicates_across_splits > 0 or self.near_duplicates_across_splits > 0
                or self.shared_groups > 0)

    def to_dict(self) -> dict:
        return {**asdict(self), "leakage": self.leakage}

    def format(self) -> str:
        """The table and findings `meddl data verify` prints."""
        return format_report(self)


def verify(data: Splits, near_threshold: int = 4, near_mad: float = 2.0,
           groups: dict[str, list[str]] | None = None, group_name: str = "") -> VerifyReport:
    """Check a loaded dataset. A pair of images from different splits is a near-duplicate when their dHashes differ
    in at most `near_threshold` of 64 bits and their pixels by at most `near_mad` grey levels on average. `groups`
    names the patient of each sample per split where `data.groups` does not (the patient of an image, a beat's
    record, a passage's document)."""
    if not 0 <= near_threshold <= 16:
        raise ConfigError(f"near-duplicate threshold must be 0..16 bits of 64, got {near_threshold}")
    if not 0 <= near_mad <= 255:
        raise ConfigError(f"near-duplicate pixel tolerance must be 0..255 grey levels, got {near_mad}")
    start = time.perf_counter()
    info = data.info
    report = VerifyReport(info.name, info.kind, info.task, list(info.labels), _counts(data),
                          near_threshold=near_threshold, near_mad=near_mad)
    if isinstance(data, ImageSplits):
        _check_images(data, report)
    groups = groups or {split: [str(g) for g in members] for split, members in data.groups.items()}
    if groups:
        _check_groups(groups, group_name or GROUP_NAMES.get(info.kind, "patient"), report)
    report.seconds = round(time.perf_counter() - start, 2)
    return report


def _counts(data) -> dict[str, dict[str, int]]:
    labels = list(data.info.labels)
    counts: dict[str, dict[str, int]] = {}
    for split, y in data.labels.items():
        y = np.asarray(y)
        if len(y) == 0 or not labels:  # a language model: no labels, count samples
            size = data.size(split)
            counts[split] = {"samples": size}
        elif y.ndim == 2 and y.shape[1] > 1:  # multi-label: positives per label
            counts[split] = {"samples": len(y), **{name: int(y[:, i].sum()) for i, name in enumerate(labels)}}
        else:
            tally = np.bincount(y.reshape(-1).astype(np.int64), minlength=len(labels))
            counts[split] = {"samples": len(y), **{name: int(n) for name, n in zip(labels, tally)}}
    return counts


def _name(data: ImageSplits, split: str, index: int) -> str:
    sources = data.sources.get(split)
    return f"{split}[{index}]" + (f" {sources[index]}" if sources else "")


def _check_images(data: ImageSplits, report: VerifyReport) -> None:
    digests: dict[str, list[tuple[str, int]]] = defaultdict(list)
    digest_of: dict[str, list[str]] = {}
    hashes: dict[str, np.ndarray] = {}
    for split in [s for s in SPLITS if s in data.images] + [s for s in data.images if s not in SPLITS]:
        images = data.images[split]
        flat = images.reshape(len(images), -1)
        lowest, highest = flat.min(axis=1), flat.max(axis=1)
        for index in np.flatnonzero(highest == lowest):
            zero = highest[index] == 0
            report.all_zero_images += int(zero)
            report.constant_images += int(not zero)
            _add(report, Finding("all-zero" if zero else "constant", f"every pixel is {int(highest[index])}",
                                 [_name(data, split, int(index))]))
        digest_of[split] = [hashlib.sha1(row.tobytes()).hexdigest() for row in flat]
        for index, digest in enumerate(digest_of[split]):
            digests[digest].append((split, index))
        hashes[split] = difference_hash(images)
    for members in digests.values():
        if len(members) < 2:
            continue
        splits = {split for split, _ in members}
        names = [_name(data, split, index) for split, index in members]
        if len(splits) > 1:
            report.exact_duplicates_across_splits += len(members) - 1
            _add(report, Finding("exact-duplicate", f"{len(members)} identical images in {sorted(splits)}", names))
        else:
            report.exact_duplicates_within_splits += len(members) - 1
    ordered = [s for s in SPLITS if s in hashes]
    for i, first in enumerate(ordered):
        for second in ordered[i + 1:]:
            for a, b, distance in near_pairs(hashes[first], hashes[second], report.near_threshold):
                if digest_of[first][a] == digest_of[second][b]:
                    continue  # already counted as an exact duplicate
                pair = (data.images[first][a].astype(np.float32), data.images[second][b].astype(np.float32))
                difference = np.abs(pair[0] - pair[1]).mean()
                if difference > report.near_mad:
                    continue
                # Volumes are often sparse (shape masks fill 1% of a cube): there a small mean difference can still
                # be half the shape, so it must also be small next to the pair's own mean intensity
                if pair[0].ndim == 4 and difference > VOLUME_RELATIVE_DIFFERENCE * (pair[0] + pair[1]).mean() / 2:
                    continue
                report.near_duplicates_across_splits += 1
                _add(report, Finding("near-duplicate", f"dHash distance {distance}, mean pixel difference "
                                     f"{difference:.2f}",
                                     [_name(data, first, a), _name(data, second, b)]))


def _add(report: VerifyReport, finding: Finding) -> None:
    if sum(f.kind == finding.kind for f in report.findings) < MAX_LISTED:
        report.findings.append(finding)


def difference_hash(images: np.ndarray) -> np.ndarray:
    """64-bit dHash of each uint8 image (N, H, W, C) as uint64: grey, area-resized to 8x9, sign of the horizontal
    gradient. Robust to rescaling and small intensity changes, so re-saved or re-sized copies hash (nearly) alike.
    Volumes (N, D, H, W, C) hash the same way in 3D: area-resized to 4x4x5, the sign of the gradient along W."""
    import torch

    grey = torch.from_numpy(np.ascontiguousarray(images)).float().mean(dim=-1)[:, None]
    small = torch.nn.functional.interpolate(grey, size=(4, 4, 5) if images.ndim == 5 else (8, 9), mode="area")[:, 0]
    bits = (small[..., 1:] > small[..., :-1]).reshape(len(images), 64).numpy()
    return np.packbits(bits, axis=1, bitorder="little").view(np.uint64).reshape(-1)


def near_pairs(first: np.ndarray, second: np.ndarray, threshold: int, chunk: int = 2048):
    """(i, j, distance) for every pair of hashes within `threshold` bits, compared in chunks to bound memory."""
    for start in range(0, len(first), chunk):
        block = first[start:start + chunk, None] ^ second[None, :]
        distance = np.bitwise_count(block)
        rows, cols = np.nonzero(distance <= threshold)
        for row, col in zip(rows, cols):
            yield start + int(row), int(col), int(distance[row, col])


def _check_groups(groups: dict[str, list[str]], group_name: str, report: VerifyReport) -> None:
    where: dict[str, set[str]] = defaultdict(set)
    for split, members in groups.items():
        for group in members:
            if group:
                where[group].add(split)
    shared = {group: splits for group, splits in where.items() if len(splits) > 1}
    report.group_name = group_name
    report.shared_groups = len(shared)
    for group, splits in sorted(shared.items()):
        _add(report, Finding("shared-patient", f"{group_name} {group} appears in {sorted(splits)}", [group]))


def format_report(report: VerifyReport) -> str:
    """The table and findings `meddl data verify` prints."""
    labels = [key for key in next(iter(report.counts.values()), {}) if key != "samples"]
    header = ["split", "samples", *labels]
    rows = [[split, *(str(counts.get(k, 0)) for k in ["samples", *labels])] for split, counts in report.counts.items()]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"{report.dataset} ({report.kind}, {report.task})", ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.append("")
    if report.kind == "image":
        lines.append(f"constant images: {report.constant_images}   all-zero images: {report.all_zero_images}")
        lines.append(f"exact duplicates across splits: {report.exact_duplicates_across_splits}   within a split: "
                     f"{report.exact_duplicates_within_splits}")
        lines.append(f"near-duplicates across splits (dHash within {report.near_threshold} bits and mean pixel "
                     f"difference <= {report.near_mad:g}): {report.near_duplicates_across_splits}")
    if report.group_name:
        lines.append(f"{report.group_name}s in more than one split: {report.shared_groups}")
    kinds = Counter(f.kind for f in report.findings)
    for finding in report.findings[:MAX_LISTED]:
        lines.append(f"  {finding.kind}: {finding.detail}: {', '.join(finding.samples[:4])}")
    if sum(kinds.values()) > MAX_LISTED:
        lines.append("  ... more in the JSON report")
    lines.append("")
    lines.append("LEAKAGE: samples or patients shared between splits" if report.leakage else "no leakage found")
    lines.append(f"checked in {report.seconds:.1f} s")
    return "\n".join(lines)
