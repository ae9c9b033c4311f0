"""PubMedQA (sections, QA, LM) and the PubMed RCT text format: splits by abstract, options, errors, download."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import meddl.data.text as text
from meddl.data import dataset_info, load_dataset
from meddl.errors import ConfigError, DataError, DownloadError

SHARED_PUBMEDQA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pubmedqa"


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_PUBMEDQA / "ori_pqal.json").is_file():
        pytest.skip(f"shared PubMedQA data not found at {SHARED_PUBMEDQA}")
    return SHARED_PUBMEDQA.parent


def tiny_pubmedqa(n: int = 12) -> dict[str, bytes]:
    """A PQA-L-shaped pair of files with `n` abstracts, the first half of them the test split."""
    answers = ("yes", "no", "maybe")
    entries = {
        str(1000 + i): {
            "QUESTION": f"Does drug {i} lower blood pressure?",
            "CONTEXTS": [f"Hypertension study {i}.", f"We enrolled {10 + i} patients.", f"Pressure fell by {i} mmHg."],
            "LABELS": ["BACKGROUND", "PATIENTS AND METHODS", "RESULTS"],
            "LONG_ANSWER": f"Drug {i} lowers blood pressure.",
            "final_decision": answers[i % 3],
        }
        for i in range(n)
    }
    test = {pmid: entry["final_decision"] for pmid, entry in list(entries.items())[: n // 2]}
    return {"ori_pqal.json": json.dumps(entries, indent=1).encode(), "test_ground_truth.json": json.dumps(test).encode()}


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    return folder


# --- the real PubMedQA files ---------------------------------------------------------------------------------------


def test_sections_split_by_abstract_with_the_official_test_half(shared_data):
    data = load_dataset("pubmedqa-sections", data_dir=shared_data)
    info = dataset_info("pubmedqa-sections")
    assert data.info.splits == info.splits  # the registered counts are the real ones (seed 0, defaults)
    assert data.info.labels == ("BACKGROUND", "OBJECTIVE", "METHODS", "RESULTS", "CONCLUSIONS")
    official = set(json.loads((shared_data / "pubmedqa" / "test_ground_truth.json").read_text()))
    assert set(data.groups["test"]) == official
    train, val = set(data.groups["train"]), set(data.groups["val"])
    assert not train & val and not (train | val) & official and len(train | val) == 500
    for split in ("train", "val", "test"):
        assert len(data.texts[split]) == len(data.labels[split]) == len(data.groups[split])
        assert np.bincount(data.labels[split], minlength=5).min() > 0  # every section in every split
    assert data.options.tokenizer == "word" and data.options.max_tokens == 256


def test_qa_pairs_question_and_contexts(shared_data):
    data = load_dataset("pubmedqa", data_dir=shared_data, options={"val_fraction": 0.2})
    assert data.info.splits == {"train": 400, "val": 100, "test": 500}
    assert data.info.labels == ("yes", "no", "maybe")
    assert np.bincount(data.labels["test"], minlength=3).tolist() == [276, 169, 55]  # as test_ground_truth.json
    assert all(q.endswith("?") for q in data.questions["train"][:50])
    assert len(data.questions["val"]) == len(data.texts["val"])


def test_lm_holds_whole_abstracts_and_the_seed_changes_only_train_and_val(shared_data):
    first = load_dataset("pubmedqa-lm", data_dir=shared_data, seed=0)
    second = load_dataset("pubmedqa-lm", data_dir=shared_data, seed=1)
    assert first.info.task == "language-model" and first.info.labels == ()
    assert all(len(labels) == 0 for labels in first.labels.values()) and first.questions == {}
    assert first.options.max_tokens == 64
    assert first.groups["test"] == second.groups["test"] and first.texts["test"] == second.texts["test"]
    assert set(first.groups["val"]) != set(second.groups["val"])
    assert min(len(t) for t in first.texts["train"]) > 300  # abstracts, not passages


@pytest.mark.parametrize(
    ("heading", "section"),
    [("BACKGROUND", "BACKGROUND"), ("PURPOSE", "OBJECTIVE"), ("MATERIALS AND METHODS", "METHODS"),
     ("DESIGN, SETTING, AND PARTICIPANTS", "METHODS"), ("MAIN OUTCOME MEASURES", "METHODS"),
     ("PRINCIPAL FINDINGS", "RESULTS"), ("METHODS AND RESULTS", None), ("BACKGROUND AND AIMS", None),
     ("UNLABELLED", None), ("LIMITATIONS", None)],
)
def test_section_headings_map_to_one_section_or_none(heading, section):
    assert text.section_of(heading) == section


# --- options and malformed files -----------------------------------------------------------------------------------


def test_unknown_or_bad_options_are_config_errors(tmp_path):
    folder = write_files(tmp_path / "pubmedqa", tiny_pubmedqa())
    with pytest.raises(ConfigError, match="unknown text option.*tokenzer.*expected some of tokenizer, max_tokens"):
        load_dataset("pubmedqa", data_dir=folder, options={"tokenzer": "char"})
    for bad in ({"tokenizer": "bpe"}, {"min_freq": 0}, {"max_tokens": "many"}, {"val_fraction": 0.7}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            load_dataset("pubmedqa", data_dir=folder, options=bad)
    data = load_dataset("pubmedqa", data_dir=folder, options={"tokenizer": "char", "max_tokens": 500})
    assert data.options.tokenizer == "char" and data.options.max_tokens == 500


def test_tiny_pubmedqa_splits(tmp_path):
    folder = write_files(tmp_path / "pubmedqa", tiny_pubmedqa())
    data = load_dataset("pubmedqa-sections", data_dir=tmp_path)
    assert data.info.splits == {"train": 20, "val": 4, "test": 24}  # 4 passages per abstract, 5 + 1 + 6 abstracts
    assert [data.info.labels[i] for i in data.labels["test"][:4]] == ["BACKGROUND", "METHODS", "RESULTS",
                                                                     "CONCLUSIONS"]
    assert data.texts["test"][3] == "Drug 0 lowers blood pressure."
    lm = load_dataset("pubmedqa-lm", data_dir=folder)
    assert lm.texts["test"][0] == ("Hypertension study 0. We enrolled 10 patients. Pressure fell by 0 mmHg. "
                                   "Drug 0 lowers blood pressure.")


def test_section_positions_are_those_of_the_published_abstract(tmp_path):
    files = tiny_pubmedqa()
    entries = json.loads(files["ori_pqal.json"])
    entries["1000"]["LABELS"][1] = "METHODS AND RESULTS"  # names two sections: dropped, but still counted
    files["ori_pqal.json"] = json.dumps(entries).encode()
    write_files(tmp_path / "pubmedqa", files)
    data = load_dataset("pubmedqa-sections", data_dir=tmp_path)
    assert data.groups["test"][:7] == ["1000"] * 3 + ["1001"] * 4
    assert data.positions["test"][:7].tolist() == [[0, 4], [2, 4], [3, 4], [0, 4], [1, 4], [2, 4], [3, 4]]
    for split in ("train", "val", "test"):
        assert data.positions[split].shape == (len(data.texts[split]), 2)
    assert data.texts["test"][2] == "Drug 0 lowers blood pressure."  # the conclusion is the last passage


def test_sections_positions_on_the_real_files(shared_data):
    data = load_dataset("pubmedqa-sections", data_dir=shared_data)
    for split in ("train", "val", "test"):
        index, count = data.positions[split].T
        assert ((0 <= index) & (index < count)).all()
        conclusions = data.labels[split] == data.info.labels.index("CONCLUSIONS")
        assert (index[conclusions] == count[conclusions] - 1).all()  # LONG_ANSWER closes the abstract
    kept = Counter(data.groups["train"])  # abstracts that lost a passage to an ambiguous heading still count it
    assert any(count > kept[group] for group, count in zip(data.groups["train"], data.positions["train"][:, 1]))


def test_malformed_json_names_file_line_and_column(tmp_path):
    files = tiny_pubmedqa()
    files["ori_pqal.json"] = files["ori_pqal.json"].replace(b'"QUESTION":', b'"QUESTION"', 1)
    folder = write_files(tmp_path / "pubmedqa", files)
    with pytest.raises(DataError, match=r"ori_pqal\.json:3:\d+: not valid JSON"):
        load_dataset("pubmedqa", data_dir=folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [(lambda e: e["1003"].pop("LONG_ANSWER"), "PMID 1003 lacks key.*LONG_ANSWER"),
     (lambda e: e["1004"]["LABELS"].pop(), "PMID 1004 has 3 CONTEXTS but 2 LABELS"),
     (lambda e: e["1005"].update(final_decision="perhaps"), "PMID 1005 final_decision 'perhaps'"),
     (lambda e: e["1006"].update(CONTEXTS="one passage"), "PMID 1006 CONTEXTS must be a list of strings")],
)
def test_bad_entries_name_the_pmid(tmp_path, change, message):
    files = tiny_pubmedqa()
    entries = json.loads(files["ori_pqal.json"])
    change(entries)
    files["ori_pqal.json"] = json.dumps(entries).encode()
    with pytest.raises(DataError, match=message):
        load_dataset("pubmedqa-lm", data_dir=write_files(tmp_path / "pubmedqa", files))


def test_test_pmids_must_be_in_the_abstracts(tmp_path):
    files = tiny_pubmedqa()
    files["test_ground_truth.json"] = json.dumps({"999": "yes"}).encode()
    with pytest.raises(DataError, match="test PMIDs.*999.*not in ori_pqal.json"):
        load_dataset("pubmedqa", data_dir=write_files(tmp_path, files))


# --- download --------------------------------------------------------------------------------------------------------

PAYLOADS = tiny_pubmedqa()


class Handler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        Handler.requests.append(self.path)
        body = PAYLOADS[self.path.rsplit("/", 1)[-1]]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def pubmedqa_server(monkeypatch, tmp_path) -> Iterator[Path]:
    """PubMedQA downloads pointed at a local server, the cache at tmp_path/cache; yields the cache folder."""
    Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    monkeypatch.setenv("MEDDL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEDDL_DATA_DIR", raising=False)
    monkeypatch.setattr(text, "PUBMEDQA_URL", f"http://127.0.0.1:{httpd.server_address[1]}/data/{{file}}")
    monkeypatch.setattr(text, "PUBMEDQA_SHA256", {k: hashlib.sha256(v).hexdigest() for k, v in PAYLOADS.items()})
    yield tmp_path / "cache" / "pubmedqa"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_then_reads_the_cache(pubmedqa_server, tmp_path):
    data = load_dataset("pubmedqa", data_dir=tmp_path / "empty")
    assert sorted(Handler.requests) == ["/data/ori_pqal.json", "/data/test_ground_truth.json"]
    assert sorted(p.name for p in pubmedqa_server.iterdir()) == ["ori_pqal.json", "test_ground_truth.json"]
    assert data.info.splits["test"] == 6
    load_dataset("pubmedqa-lm")
    assert len(Handler.requests) == 2


def test_checksum_mismatch_leaves_nothing(pubmedqa_server, tmp_path, monkeypatch):
    monkeypatch.setitem(text.PUBMEDQA_SHA256, "ori_pqal.json", "0" * 64)
    with pytest.raises(DownloadError, match=r"SHA256 mismatch.*put ori_pqal\.json"):
        load_dataset("pubmedqa", data_dir=tmp_path / "empty")
    assert not pubmedqa_server.exists() or list(pubmedqa_server.iterdir()) == []


def test_no_download_lists_where_it_looked(pubmedqa_server, tmp_path):
    with pytest.raises(DataError, match="not found; looked in"):
        text.locate_pubmedqa(tmp_path, allow_download=False)


# --- PubMed RCT format -----------------------------------------------------------------------------------------------


def rct_abstracts(first: int, n: int) -> str:
    blocks = []
    for i in range(first, first + n):
        blocks.append(f"###{i}\nOBJECTIVE\tTo test drug {i}.\nMETHODS\tWe randomised {i} adults.\n"
                      f"RESULTS\tMortality fell.\nCONCLUSIONS\tDrug {i} works.\n")
    return "\n".join(blocks) + "\n"


def test_rct_folder_uses_its_own_splits(tmp_path):
    folder = tmp_path / "pubmed_rct"
    folder.mkdir()
    for name, first in (("train.txt", 0), ("dev.txt", 100), ("test.txt", 200)):
        (folder / name).write_text(rct_abstracts(first, 3))
    data = load_dataset(str(folder), options={"min_freq": 1})  # the same entry point as `meddl train PATH`
    assert data.info.labels == ("CONCLUSIONS", "METHODS", "OBJECTIVE", "RESULTS")
    assert data.info.splits == {"train": 12, "val": 12, "test": 12}
    assert data.groups["val"][:4] == ["100"] * 4 and data.texts["val"][1] == "We randomised 100 adults."
    assert data.info.labels[data.labels["val"][1]] == "METHODS" and data.options.min_freq == 1


def test_rct_single_file_is_split_by_abstract(tmp_path):
    path = tmp_path / "abstracts.txt"
    path.write_text(rct_abstracts(0, 20))
    first, again = text.load_rct(path, seed=3), text.load_rct(path, seed=3)
    assert first.groups == again.groups
    assert {split: len(set(groups)) for split, groups in first.groups.items()} == {"train": 14, "val": 2, "test": 4}
    seen = [set(first.groups[split]) for split in ("train", "val", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert text.load_rct(path, seed=4).groups != first.groups


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no sentences found"), ("\n\n", "no sentences found"),
     ("METHODS\tNo header first.\n", r":1: expected a '###ID' line first"),
     ("###1\nMETHODS\tFine.\nRESULTS without a tab\n", r"abstracts\.txt:3: expected LABEL<TAB>sentence"),
     ("###\nMETHODS\tFine.\n", r":1: '###' must be followed by the abstract id")],
)
def test_rct_malformed_files_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "abstracts.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        text.load_rct(path)


def test_rct_folder_missing_files_and_tiny_files(tmp_path):
    (tmp_path / "train.txt").write_text(rct_abstracts(0, 3))
    with pytest.raises(DataError, match="lacks dev.txt, test.txt"):
        text.load_rct(tmp_path)
    single = tmp_path / "two.txt"
    single.write_text(rct_abstracts(0, 2))
    with pytest.raises(DataError, match="no samples in the val, test split"):
        text.load_rct(single)
