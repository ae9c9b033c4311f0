"""What an ECG or text evaluation was run on, said in words for the report and as fields for metrics.json: the
split (how it was drawn, which records or how many documents, how many samples), what the ECG loader left out
before splitting, and what the rhythm gate did.

MIT-BIH's inter-patient split is de Chazal et al.'s (2004) DS1 (train, with validation records drawn from it) and
DS2 (test); PubMedQA's test split is PQA-L's official test half. A reader comparing figures with a paper needs
exactly these facts, so the report states them beside the metrics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from meddl.data.ecg import DS1, DS2, PACED
from meddl.data.types import SignalSplits, TextSplits

RCT_SOURCE = "PubMed RCT-format sentences from "  # the description `meddl.data.text.load_rct` gives its corpus
PUBMEDQA_SETS = ("pubmedqa", "pubmedqa-sections")


@dataclass(frozen=True)
class SplitFacts:
    """The evaluated split: its name, how it was drawn, the groups (records or documents) it holds and how many
    samples; `description` says it all in one line."""

    name: str
    scheme: str
    group_unit: str
    n_groups: int
    sample_unit: str
    n_samples: int
    description: str
    records: tuple[str, ...] = ()  # ECG: the records (patients) in the split

    def to_dict(self) -> dict:
        return {**asdict(self), "records": list(self.records)}


def _count(n: int, unit: str) -> str:
    return f"{n:,} {unit if n != 1 else unit.rstrip('s')}"


def split_facts(data: SignalSplits | TextSplits, split: str) -> SplitFacts:
    """How `split` of `data` was drawn, which records or how many documents it holds, and its size."""
    groups = sorted(set(np.asarray(data.groups.get(split, [])).astype(str).tolist()))
    n_samples = int(data.size(split))  # the labels of a language model are empty
    if isinstance(data, SignalSplits):
        scheme, how = _ecg_scheme(data, split, groups)
        counts = f"{_count(len(groups), 'records')}, {_count(n_samples, 'beats')}"
        return SplitFacts(split, scheme, "record", len(groups), "beats", n_samples,
                          f"{how}: record{'s' if len(groups) != 1 else ''} {', '.join(groups)} ({counts})",
                          tuple(groups))
    unit = "questions" if data.questions else "sentences" if _rct_source(data) else "passages"
    scheme, how = _text_scheme(data, split)
    group_unit = "document" if data.info.name == "example-text" else "abstract"
    return SplitFacts(split, scheme, group_unit, len(groups), unit, n_samples,
                      f"{how} ({_count(len(groups), group_unit + 's')}, {_count(n_samples, unit)})")


def _ecg_scheme(data: SignalSplits, split: str, records: list[str]) -> tuple[str, str]:
    options = data.options
    if options.split == "intra-patient":
        share = {"test": options.test_fraction, "val": options.val_fraction}.get(split)
        drawn = f"a stratified {share:.0%} of the beats of every record" if share else "the remaining beats"
        return "intra-patient", (f"{split}, intra-patient ({drawn}; every patient is in every split, which "
                                 "overstates accuracy on new patients)")
    if data.info.name != "mitdb":
        share = {"test": options.test_fraction, "val": options.val_fraction}.get(split)
        drawn = f"{share:.0%} of the records held out by patient" if share else "the remaining records"
        return "inter-patient", f"{split}, inter-patient ({drawn})"
    subset = "DS2" if set(records) <= set(DS2) else "DS1" if set(records) <= set(DS1) else "DS1+DS2"
    whole = {"DS2": set(DS2), "DS1": set(DS1)}.get(subset) == set(records)
    part = "" if whole or split != "test" else " (the records chosen by -O records)"
    role = {"val": f"validation records drawn from DS1 ({options.val_fraction:.0%}, class shares matched)",
            "train": "DS1 less the validation records"}.get(split, f"{subset}{part}")
    return "inter-patient", f"{role}, inter-patient (de Chazal et al. 2004)"


def _rct_source(data: TextSplits) -> str | None:
    description = data.info.description or ""
    return description[len(RCT_SOURCE):] if description.startswith(RCT_SOURCE) else None


def _text_scheme(data: TextSplits, split: str) -> tuple[str, str]:
    fraction = data.options.val_fraction if data.options is not None else None
    if data.info.name in PUBMEDQA_SETS:
        how = {"test": "the official PQA-L test half, the PMIDs of test_ground_truth.json",
               "val": f"a seeded {fraction:.0%} of the other PQA-L abstracts, by abstract"}
        scheme = "official" if split == "test" else "seeded, by abstract"
        return scheme, how.get(split, "the non-test PQA-L abstracts less the validation ones")
    source = _rct_source(data)
    if source is not None and not source.endswith(".txt"):
        file = {"val": "dev.txt"}.get(split, f"{split}.txt")
        return "the corpus's own", f"{file} of {source}"
    if source is not None:
        from meddl.data.text import RCT_TEST_FRACTION

        share = {"test": RCT_TEST_FRACTION, "val": fraction}.get(split)
        drawn = f"a seeded {share:.0%} of the abstracts of {source}" if share else f"the rest of {source}"
        return "seeded, by abstract", drawn
    return "by document", f"split {split!r}, by document"


def left_out(data: SignalSplits) -> dict:
    """What the ECG loader drops before splitting (by rule; it keeps no per-rule counts)."""
    options = data.options
    loaded = {str(name) for groups in data.groups.values() for name in np.unique(np.asarray(groups).astype(str))}
    paced = [name for name in PACED if name not in loaded] if data.info.name == "mitdb" else []
    classes = [name for name in ("Q",) if name not in options.labels]
    parts = []
    if paced:
        parts.append(f"the paced records {', '.join(paced)} (AAMI EC57)")
    if classes:
        parts.append("Q beats (paced, fusion of paced and normal, unclassifiable; -O include_q=true keeps them)")
    parts.append(f"beats within {options.before_s:g} s of a record's start or {options.after_s:g} s of its end "
                 "(their window would run past the record)")
    return {"paced_records": paced, "classes": classes, "edge_window_s": [options.before_s, options.after_s],
            "description": "; ".join(parts) + ". The loader does not count the beats these rules drop."}


def rhythm_gate_applied(hparams, labels: list[str], predicted: np.ndarray) -> dict:
    """Whether the rhythm gate decided N vs S, why (not), and for how many beats of the evaluated split."""
    from meddl.models.rhythm_gate import GATE_FEATURES

    fit = hparams.get("rhythm_gate")
    options = hparams.get("data_options") or {}
    if not fit:
        asked = options.get("rhythm_gate")
        if asked is False:
            why = "off (-O rhythm_gate=false): the network decides N vs S"
        elif asked is None and options.get("split") == "intra-patient":
            why = ("off (the default for an intra-patient split, where the network has seen every test patient's "
                   "S beats): the network decides N vs S")
        else:
            asked = "asked for (-O rhythm_gate=true)" if asked else "on by default for this split"
            why = (f"{asked} but not fitted (it needs RR features, labels starting N, S and at least 10 N and 10 S "
                   "training beats): the network decides N vs S")
        return {"used": False, "description": why}
    decided = int(np.isin(predicted, [labels.index("N"), labels.index("S")]).sum())
    called_s = int((predicted == labels.index("S")).sum())
    description = (
        f"on: N vs S decided from the RR intervals alone ({', '.join(GATE_FEATURES)}) by a logistic model fitted on "
        f"the training beats; threshold {fit['threshold']:.2f} chosen by {fit['folds']}-fold cross-validation "
        f"grouped by {fit['grouped_by']} (S Se {fit['cv_sensitivity']:.0%}, +P {fit['cv_ppv']:.0%}). It removes "
        f"no beats: on this split it decided {decided:,} of {len(predicted):,} beats (those the network called "
        f"supraventricular or normal) and called {called_s:,} of them S.")
    return {"used": True, "beats_decided": decided, "beats_called_s": called_s, "n_beats": int(len(predicted)),
            "description": description}
