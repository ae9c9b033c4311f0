"""Medical text: PubMedQA (PQA-L) for section classification, question answering and language modelling, and the
PubMed 200k/20k RCT format for a user's own abstracts.

PQA-L holds 1,000 expert-labelled PubMed abstracts (Jin et al., EMNLP 2019; MIT licence). Its official test split is
the 500 PMIDs of test_ground_truth.json; the other 500 are split into train and val by abstract, seeded, so no
abstract ever appears in two splits. Files are read from `data_dir/pubmedqa/`, `data_dir`, the download cache, or
else downloaded from the PubMedQA repository and checked against the SHA-256 of a verified copy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from meddl.data.download import default_cache_dir, download
from meddl.data.registry import register_dataset
from meddl.data.types import DatasetInfo, TextSplits
from meddl.errors import ConfigError, DataError, DownloadError

PUBMEDQA_URL = "https://raw.githubusercontent.com/pubmedqa/pubmedqa/master/data/{file}"
PUBMEDQA_SHA256 = {
    "ori_pqal.json": "8b3276be8942ebbd77f3ddcda12c1749bf0e490045a736fd8438ee40cf37a41d",
    "test_ground_truth.json": "939fe566f09017d13b1ca64d2ddfee0bc2374b366048152997669cccedc44d51",
}
PUBMEDQA_KEYS = ("QUESTION", "CONTEXTS", "LABELS", "LONG_ANSWER", "final_decision")
ANSWERS = ("yes", "no", "maybe")
# PubMed RCT's five sections, in abstract order. PQA-L's LONG_ANSWER is the abstract's conclusion, which PubMedQA
# took out of CONTEXTS; it comes back as CONCLUSIONS so both sources share one label set.
SECTIONS = ("BACKGROUND", "OBJECTIVE", "METHODS", "RESULTS", "CONCLUSIONS")
# PQA-L keeps each journal's own headings (140 of them: OBJECTIVE, PURPOSE, AIMS; METHODS, DESIGN, SETTING,
# PATIENTS ...). A heading maps to a section when its words name exactly one; words not listed (AND, STUDY, MAIN)
# say nothing. Headings naming two sections (BACKGROUND AND AIMS, METHODS AND RESULTS: 71 passages) or none
# (LIMITATIONS, DISCUSSION, UNLABELLED, CASE REPORT: 39) are dropped from section classification: 110 of 3,358.
SECTION_WORDS = {
    "BACKGROUND": "BACKGROUND INTRODUCTION CONTEXT RATIONALE",
    "OBJECTIVE": "OBJECTIVE OBJECTIVES PURPOSE PURPOSES AIM AIMS GOAL HYPOTHESIS HYPOTHESES OBJECT",
    "METHODS": "METHODS METHOD METHODOLOGY MATERIAL MATERIALS DESIGN SETTING SETTINGS PATIENT PATIENTS PARTICIPANTS "
    "SUBJECTS PROBANDS POPULATION SAMPLE INTERVENTION INTERVENTIONS MEASUREMENT MEASUREMENTS MEASURE MEASURES "
    "MEASURED OUTCOME OUTCOMES VARIABLES SOURCE SOURCES EXTRACTION SELECTION COLLECTION LOCATION",
    "RESULTS": "RESULTS RESULT FINDINGS OBSERVATIONS SYNTHESIS",
}
_SECTION_OF_WORD = {word: section for section, words in SECTION_WORDS.items() for word in words.split()}
RCT_TEST_FRACTION = 0.2  # a single RCT file is split 70/10/20 by abstract, as a user's own images are


@dataclass(frozen=True)
class TextOptions:
    """How text is tokenised and split; `-O key=value` on the command line, kept in `TextSplits.options`.

    max_tokens: passage length for classification (longer ones are truncated), or the training chunk length of
    a language model. min_freq / max_vocab: tokens seen fewer times in training are <unk>; vocabulary cap.
    val_fraction: abstracts held out for validation from the training half (and, for a single RCT file, its size).
    """

    tokenizer: str = "word"
    max_tokens: int = 256
    min_freq: int = 2
    max_vocab: int = 20000
    val_fraction: float = 0.1

    @classmethod
    def parse(cls, options: dict, max_tokens: int = 256) -> TextOptions:
        """Check user options: unknown keys, wrong types and out-of-range values raise a ConfigError."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ConfigError(f"unknown text option(s) {', '.join(unknown)}: expected some of {', '.join(valid)}")
        values = {**asdict(cls(max_tokens=max_tokens)), **options}
        if values["tokenizer"] not in ("word", "char"):
            raise ConfigError(f"text option tokenizer={values['tokenizer']!r}: expected word or char")
        for key, low in (("max_tokens", 2), ("min_freq", 1), ("max_vocab", 5)):
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"text option {key}={value!r}: expected an integer >= {low}")
        fraction = values["val_fraction"]
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 0.5:
            raise ConfigError(f"text option val_fraction={fraction!r}: expected a number between 0 and 0.5")
        return cls(**values)


# --- PubMedQA ------------------------------------------------------------------------------------------------------


def locate_pubmedqa(data_dir: Path | None, allow_download: bool = True) -> Path:
    """The folder holding both PubMedQA files: local copies first, else the cache, else a verified download."""
    candidates = [data_dir / "pubmedqa", data_dir] if data_dir is not None else []
    cache = default_cache_dir() / "pubmedqa"
    for folder in candidates + [cache]:
        if all((folder / name).is_file() for name in PUBMEDQA_SHA256):
            return folder
    if not allow_download:
        raise DataError(f"PubMedQA files {', '.join(PUBMEDQA_SHA256)} not found; looked in "
                        f"{', '.join(str(c) for c in candidates + [cache])}")
    for name, sha256 in PUBMEDQA_SHA256.items():
        if not (cache / name).is_file():
            url = PUBMEDQA_URL.format(file=name)
            try:
                download(url, cache / name, sha256=sha256)
            except DownloadError as error:
                raise DownloadError(f"PubMedQA is not available: {error}. Without network access, put {name} "
                                    f"(from {url}) into {data_dir or 'the folder named by MEDDL_DATA_DIR'}/pubmedqa "
                                    f"or {cache}") from None
    return cache


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read as UTF-8 text ({error})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})") from None
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a non-empty JSON object keyed by PMID, got {type(data).__name__}")
    return data


def read_pubmedqa(folder: Path) -> tuple[dict[str, dict], set[str]]:
    """PQA-L entries by PMID, checked for the keys used here, and the PMIDs of the official test split."""
    entries = _read_json(folder / "ori_pqal.json")
    for pmid, entry in entries.items():
        _check_entry(folder / "ori_pqal.json", pmid, entry)
    test = set(_read_json(folder / "test_ground_truth.json"))
    if not test <= set(entries):
        raise DataError(f"{folder / 'test_ground_truth.json'}: {len(test - set(entries))} test PMIDs (e.g. "
                        f"{min(test - set(entries))}) are not in ori_pqal.json")
    return entries, test


def _check_entry(path: Path, pmid: str, entry) -> None:
    missing = [key for key in PUBMEDQA_KEYS if not isinstance(entry, dict) or key not in entry]
    if missing:
        raise DataError(f"{path}: PMID {pmid} lacks key(s) {', '.join(missing)}")
    for key in ("CONTEXTS", "LABELS"):
        if not isinstance(entry[key], list) or not all(isinstance(item, str) for item in entry[key]):
            raise DataError(f"{path}: PMID {pmid} {key} must be a list of strings, got {entry[key]!r:.60}")
    for key in ("QUESTION", "LONG_ANSWER"):
        if not isinstance(entry[key], str):
            raise DataError(f"{path}: PMID {pmid} {key} must be a string, got {entry[key]!r:.60}")
    if len(entry["CONTEXTS"]) != len(entry["LABELS"]):
        raise DataError(f"{path}: PMID {pmid} has {len(entry['CONTEXTS'])} CONTEXTS but {len(entry['LABELS'])} LABELS")
    if entry["final_decision"] not in ANSWERS:
        raise DataError(f"{path}: PMID {pmid} final_decision {entry['final_decision']!r}: expected one of "
                        f"{', '.join(ANSWERS)}")


def split_groups(groups: list[str], val_fraction: float, seed: int, test_fraction: float = 0.0) -> dict[str, str]:
    """A seeded split of documents: each group (abstract) goes wholly to train, val or test."""
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test = round(test_fraction * len(unique))
    n_val = max(1, round(val_fraction * len(unique))) if len(unique) > 2 else 0
    names = ["test"] * n_test + ["val"] * n_val + ["train"] * (len(unique) - n_test - n_val)
    return {unique[index]: name for index, name in zip(order, names)}


def section_of(heading: str) -> str | None:
    """The canonical section a PQA-L heading names, or None when it names none or several (see SECTION_WORDS)."""
    named = {_SECTION_OF_WORD[word] for word in heading.replace(",", " ").split() if word in _SECTION_OF_WORD}
    return named.pop() if len(named) == 1 else None


def _pubmedqa_splits(data_dir: Path | None, seed: int, options: TextOptions):
    """Each PQA-L abstract with the split it belongs to: official test, or seeded train/val of the rest."""
    entries, test = read_pubmedqa(locate_pubmedqa(data_dir))
    assignment = split_groups([p for p in entries if p not in test], options.val_fraction, seed)
    for pmid in sorted(entries):
        yield pmid, entries[pmid], "test" if pmid in test else assignment[pmid]


def _text_splits(
    info: DatasetInfo, rows: list[tuple], options: TextOptions, labels: tuple[str, ...], pair: bool = False,
    positions: list[tuple[int, int]] | None = None,
) -> TextSplits:
    """TextSplits from (split, group, text, label, question) rows, and optionally each row's (index, count) in its
    document; `splits` counts come from the data."""
    texts: dict[str, list[str]] = {s: [] for s in ("train", "val", "test")}
    groups = {s: [] for s in texts}
    questions = {s: [] for s in texts}
    targets: dict[str, list[int]] = {s: [] for s in texts}
    where: dict[str, list[tuple[int, int]]] = {s: [] for s in texts}
    for number, (split, group, text, label, question) in enumerate(rows):
        if positions is not None:
            where[split].append(positions[number])
        texts[split].append(text)
        groups[split].append(group)
        questions[split].append(question)
        if label is not None:
            targets[split].append(labels.index(label))
    empty = [split for split, items in texts.items() if not items]
    if empty:
        raise DataError(f"{info.name}: no samples in the {', '.join(empty)} split(s); it needs more abstracts")
    return TextSplits(
        info=replace(info, splits={split: len(items) for split, items in texts.items()}),
        texts=texts,
        labels={s: np.asarray(targets[s], dtype=np.int64) for s in texts},
        groups=groups,
        questions=questions if pair else {},
        options=options,
        positions={s: np.asarray(where[s], dtype=np.int64).reshape(-1, 2) for s in texts} if positions else {},
    )


def load_sections(data_dir: Path | None, seed: int = 0, **options) -> TextSplits:
    """One passage per PQA-L section (CONTEXTS, and LONG_ANSWER as CONCLUSIONS), labelled with its section.

    Each passage keeps its place in the published abstract (`TextSplits.positions`): the conclusion is the last of
    len(CONTEXTS) + 1 passages, and a dropped passage (a heading naming no or two sections) still counts, as it
    would in a user's abstract."""
    opts = TextOptions.parse(options)
    rows, positions = [], []
    for pmid, entry, split in _pubmedqa_splits(data_dir, seed, opts):
        count = len(entry["CONTEXTS"]) + 1
        for index, (passage, heading) in enumerate(zip(entry["CONTEXTS"], entry["LABELS"])):
            if (section := section_of(heading)) is not None:
                rows.append((split, pmid, passage, section, ""))
                positions.append((index, count))
        rows.append((split, pmid, entry["LONG_ANSWER"], "CONCLUSIONS", ""))
        positions.append((count - 1, count))
    return _text_splits(SECTIONS_INFO, rows, opts, SECTIONS, positions=positions)


# Results come last in an abstract: 512 tokens keep whole PQA-L contexts (256 would cut the end of many).
QA_MAX_TOKENS = 512


def load_qa(data_dir: Path | None, seed: int = 0, **options) -> TextSplits:
    """Reasoning-required PubMedQA: the question and the abstract without its conclusion; answer yes/no/maybe."""
    opts = TextOptions.parse(options, max_tokens=QA_MAX_TOKENS)
    rows = [(split, pmid, " ".join(entry["CONTEXTS"]), entry["final_decision"], entry["QUESTION"])
            for pmid, entry, split in _pubmedqa_splits(data_dir, seed, opts)]
    return _text_splits(QA_INFO, rows, opts, ANSWERS, pair=True)


def load_lm(data_dir: Path | None, seed: int = 0, **options) -> TextSplits:
    """Whole abstracts (sections and conclusion) for language modelling; perplexity on the official test half."""
    opts = TextOptions.parse(options, max_tokens=64)
    rows = [(split, pmid, " ".join(entry["CONTEXTS"] + [entry["LONG_ANSWER"]]), None, "")
            for pmid, entry, split in _pubmedqa_splits(data_dir, seed, opts)]
    return _text_splits(LM_INFO, rows, opts, ())


_PUBMEDQA = dict(n_channels=1, license="MIT", kind="text")
SECTIONS_INFO = DatasetInfo(
    name="pubmedqa-sections", task="multi-class", labels=SECTIONS, splits={"train": 1901, "val": 214, "test": 2133},
    description="PubMedQA PQA-L passages labelled with their abstract section (5 classes, split by abstract)",
    default_model="passage-bilstm", default_preset="sections", **_PUBMEDQA)
QA_INFO = DatasetInfo(
    name="pubmedqa", task="multi-class", labels=ANSWERS, splits={"train": 450, "val": 50, "test": 500},
    description="PubMedQA PQA-L question answering, reasoning-required: question + abstract -> yes/no/maybe",
    default_model="bilstm-attention", default_preset="qa", **_PUBMEDQA)
LM_INFO = DatasetInfo(
    name="pubmedqa-lm", task="language-model", labels=(), splits={"train": 450, "val": 50, "test": 500},
    description="PubMedQA PQA-L abstracts for language modelling; perplexity on the official test half",
    default_model="lstm-lm", default_preset="lm", **_PUBMEDQA)
for _info, _load in ((SECTIONS_INFO, load_sections), (QA_INFO, load_qa), (LM_INFO, load_lm)):
    register_dataset(_info, _load)


# --- PubMed 200k/20k RCT format ------------------------------------------------------------------------------------


def is_rct_text(path: Path) -> bool:
    """True for PubMed RCT-format text: a .txt file, or a folder holding train.txt (with dev.txt/test.txt)."""
    if path.is_file():
        return path.suffix.lower() == ".txt"
    return path.is_dir() and (path / "train.txt").is_file()


def read_rct_file(path: Path) -> list[tuple[str, str, str]]:
    """(abstract id, label, sentence) for every sentence of an RCT-format file: `###ID` lines open an abstract,
    `LABEL<TAB>sentence` lines follow, blank lines separate abstracts."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read as UTF-8 text ({error})") from None
    rows, abstract = [], None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("###"):
            abstract = line[3:].strip()
            if not abstract:
                raise DataError(f"{path}:{number}: '###' must be followed by the abstract id")
            continue
        label, tab, sentence = line.partition("\t")
        if abstract is None or not tab or not label.strip() or not sentence.strip():
            expected = "a '###ID' line first" if abstract is None else "LABEL<TAB>sentence"
            raise DataError(f"{path}:{number}: expected {expected}, got {line[:60]!r}")
        rows.append((abstract, label.strip(), sentence.strip()))
    if not rows:
        raise DataError(f"{path}: no sentences found; expected '###ID' lines followed by LABEL<TAB>sentence lines")
    return rows


def load_rct(path: Path, seed: int = 0, **options) -> TextSplits:
    """A PubMed RCT-format corpus: a folder with train.txt, dev.txt (-> val) and test.txt, or one .txt file split
    by abstract (70/10/20 with the default val_fraction). Each sentence is a sample labelled with its section."""
    opts = TextOptions.parse(options)
    path = Path(path)
    if path.is_dir():
        files = {"train": path / "train.txt", "val": path / "dev.txt", "test": path / "test.txt"}
        missing = [f.name for f in files.values() if not f.is_file()]
        if missing:
            raise DataError(f"{path}: RCT folder lacks {', '.join(missing)}; expected train.txt, dev.txt, test.txt")
        rows = [(split, *row) for split, file in files.items() for row in read_rct_file(file)]
    else:
        sentences = read_rct_file(path)
        assignment = split_groups([a for a, _, _ in sentences], opts.val_fraction, seed, RCT_TEST_FRACTION)
        rows = [(assignment[abstract], abstract, label, sentence) for abstract, label, sentence in sentences]
    labels = tuple(sorted({label for _, _, label, _ in rows}))
    info = DatasetInfo(name=path.stem, task="multi-class", n_channels=1, labels=labels, splits={},
                       license="your own data", description=f"PubMed RCT-format sentences from {path}", kind="text",
                       default_model="bilstm-attention", default_preset="text")
    return _text_splits(info, [(s, a, sentence, label, "") for s, a, label, sentence in rows], opts, labels)
