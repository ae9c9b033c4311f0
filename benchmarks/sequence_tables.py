"""The tables of benchmarks/sequences.py: measured rows (meddl, baselines run here) beside the published ones, with
the gap to the best published figure. Figures are percent except perplexity and beats/s."""

from __future__ import annotations

from pathlib import Path

from _common import describe, markdown_table, table

from sequence_baselines import macro_f1_from_se_ppv

ECG_CLASSES = ("N", "S", "V", "F")
NOTES = (
    "ECG: Se = sensitivity, +P = positive predictivity (precision) per AAMI class on DS2; macro-F1 is the mean F1 "
    "over N/S/V/F (or N/S/V, so that studies without F can be compared); for published studies it is computed from "
    "their Se and +P. † = a published value no reachable source confirmed (see sequences_published.yaml); "
    "- = not reported / not found. meddl's and the baselines' intervals are 95% cluster-bootstrap intervals over "
    "records (ECG) or documents (text), as in metrics.json. d = measured minus the best published value of that "
    "column (published models only, human excluded). meddl's ECG model is the default: CNN+LSTM with the rhythm gate "
    "(N vs S from a class-balanced logistic model of the patient-normalised RR intervals, its threshold chosen by "
    "record-grouped cross-validation on the training beats; `rhythm_gate` in its metrics.json). "
    "The logistic regression (RR features + beat averaged to 32 "
    "points per lead, class-balanced) is fitted on all DS1 beats (train + val). "
    "meddl's PubMedQA model is the default BiLSTM with its answer-cue prior (a logistic model of no-effect/effect "
    "word shares fitted on the training passages, added to the logits). "
    "PubMedQA: only the accuracies of the paper's abstract and the majority macro-F1 (recomputed from the test "
    "labels) could be confirmed, so the best published macro-F1 is the majority baseline's. TF-IDF: word 1-2-grams, "
    "question and context vectorised separately and stacked, logistic regression with C picked on the validation "
    "split. LM: both models predict every test token after the first of the `bos text eos` test stream, with the "
    "run's vocabulary (built on the training split); the LSTM sees at most its 64-token chunk, the trigram 2 "
    "tokens. Beats/s: forward pass + argmax of the trained ECG network on the CPU, after warm-up, no data loading; "
    "each timing stops after --timing-seconds, so 'beats' can be fewer than DS2 holds. On a shared, loaded machine "
    "these rates measure the share of the CPU the run got, not the model."
)


def _pct(value, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def _ci(value, interval, digits: int = 1) -> str:
    if value is None:
        return "-"
    if not interval or interval[0] is None:
        return _pct(value, digits)
    return f"{_pct(value, digits)} [{_pct(interval[0], digits)}, {_pct(interval[1], digits)}]"


def _signed(value) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _published_value(method: dict, key: str, name: str) -> str:
    value = method[key].get(name)
    if value is None:
        return "-"
    return f"{value:.1f}" + ("" if method.get("confirmed", {}).get(key, {}).get(name, True) else "†")


def published_ecg(published: dict) -> dict:
    """Per published method: macro-F1 (percent) over N/S/V/F and over N/S/V, None where a class is missing."""
    out = {}
    for key, method in published["ecg_inter_patient"]["methods"].items():
        out[key] = {classes: macro_f1_from_se_ppv(method["se"], method["ppv"], classes)
                    for classes in (ECG_CLASSES, ECG_CLASSES[:3])}
    return out


def _measured_f1(test: dict, classes) -> float | None:
    f1s = [test["per_class"].get(name, {}).get("f1") for name in classes]
    return None if any(f is None for f in f1s) else 100 * sum(f1s) / len(f1s)


ECG_HEADER = ["method", "N Se/+P", "S Se/+P", "V Se/+P", "F Se/+P", "macro-F1 NSVF", "macro-F1 NSV", "d NSVF",
              "d NSV"]


def ecg_rows(row: dict, published: dict) -> list[list[str]]:
    pub = published_ecg(published)
    best = {classes: max((v[classes] for v in pub.values() if v[classes] is not None), default=None)
            for classes in (ECG_CLASSES, ECG_CLASSES[:3])}
    rows = []
    for label, test in ((f"meddl {row['meddl']['model']} (this run)", row["meddl"]["test"]),
                        ("logistic regression (this run)", row["logreg"])):
        per_class = test["per_class"]
        nsvf = None if test["macro_f1"] is None else 100 * test["macro_f1"]  # over the scored classes N, S, V, F
        nsv = _measured_f1(test, ECG_CLASSES[:3])
        rows.append([label] + [f"{_pct(per_class[c]['sensitivity'])}/{_pct(per_class[c]['ppv'])}" for c in ECG_CLASSES]
                    + [_ci(test["macro_f1"], (test.get("ci") or {}).get("macro_f1")),
                       "-" if nsv is None else f"{nsv:.1f}",
                       _signed(None if nsvf is None or best[ECG_CLASSES] is None else nsvf - best[ECG_CLASSES]),
                       _signed(None if nsv is None or best[ECG_CLASSES[:3]] is None else nsv - best[ECG_CLASSES[:3]])])
    for key, method in published["ecg_inter_patient"]["methods"].items():
        f1 = pub[key]
        unconfirmed = any(not all(v.values()) for v in method["confirmed"].values())
        rows.append([method["name"]]
                    + [f"{_published_value(method, 'se', c)}/{_published_value(method, 'ppv', c)}" for c in ECG_CLASSES]
                    + ["-" if f1[ECG_CLASSES] is None else f"{f1[ECG_CLASSES]:.1f}" + ("†" if unconfirmed else ""),
                       "-" if f1[ECG_CLASSES[:3]] is None else f"{f1[ECG_CLASSES[:3]]:.1f}", "", ""])
    return rows


TIMING_HEADER = ["batch size", "beats", "seconds", "beats/s", "torch threads"]


def timing_rows(row: dict) -> list[list[str]]:
    timing = row["timing"]
    return [[str(r["batch_size"]), str(r["beats"]), f"{r['seconds']:.2f}", f"{r['beats_per_s']:.0f}",
             str(timing["torch_threads"])] for r in timing["runs"]]


TEXT_HEADER = ["method", "acc", "macro-F1", "d acc", "d macro-F1"]


def text_rows(row: dict, published: dict | None) -> list[list[str]]:
    """QA (`published` given): d against the best published model; sections: d against the TF-IDF baseline."""
    if published:
        models = [m for key, m in published["pubmedqa"]["methods"].items() if key != "human_single"]
        best = {k: max((m[k] for m in models if m[k] is not None), default=None) for k in ("acc", "macro_f1")}
    else:
        best = {k: 100 * row["tfidf_logreg"][k] for k in ("acc", "macro_f1")}
    rows = []
    for label, test in ((f"meddl {row['meddl']['model']} (this run)", row["meddl"]["test"]),
                        (f"majority '{row['majority'].get('predicts', '')}' (this run)", row["majority"]),
                        ("TF-IDF + logistic regression (this run)", row["tfidf_logreg"])):
        ci = test.get("ci") or {}
        rows.append([label, _ci(test["acc"], ci.get("acc")), _ci(test["macro_f1"], ci.get("macro_f1"))]
                    + [_signed(None if best[k] is None or test[k] is None else 100 * test[k] - best[k])
                       for k in ("acc", "macro_f1")])
    for method in (published["pubmedqa"]["methods"].values() if published else []):
        rows.append([f"{method['name']} (published)"]
                    + ["-" if method[k] is None else str(method[k]) for k in ("acc", "macro_f1")] + ["", ""])
    return rows


LM_HEADER = ["model", "test perplexity", "cross-entropy (nats/token)", "test tokens", "vocabulary"]


def lm_rows(row: dict) -> list[list[str]]:
    test, kn = row["meddl"]["test"], row["kneser_ney"]
    return [[f"meddl {row['meddl']['model']} (this run)", f"{test['perplexity']:.1f}", f"{test['cross_entropy']:.3f}",
             str(test.get("tokens", "-")), str(kn["vocab_size"])],
            ["interpolated Kneser-Ney trigram (this run)", f"{kn['perplexity']:.1f}", f"{kn['cross_entropy']:.3f}",
             str(kn["tokens"]), str(kn["vocab_size"])]]


def sections(payload: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table whose task ran; a failed task becomes a one-line table."""
    published, results, out = payload["published"], payload["results"], []
    builders = {
        "ecg": [("ECG inter-patient (MIT-BIH DS1 -> DS2), percent", ECG_HEADER, lambda r: ecg_rows(r, published)),
                ("ECG inference on this CPU (DS2 test beats)", TIMING_HEADER, timing_rows)],
        "qa": [("PubMedQA reasoning-required, test (500), percent", TEXT_HEADER, lambda r: text_rows(r, published))],
        "sections": [("PubMedQA section classification, test, percent (d vs TF-IDF)", TEXT_HEADER,
                      lambda r: text_rows(r, None))],
        "lm": [("Language model on PubMedQA abstracts, test split", LM_HEADER, lm_rows)],
    }
    for task, row in results.items():
        for title, header, build in builders[task]:
            if "error" in row:
                out.append((title, ["status"], [[f"FAILED: {row['error']}"]]))
                break
            out.append((title, header, build(row)))
    return out


def print_tables(payload: dict) -> None:
    for title, header, rows in sections(payload):
        print(f"{title}\n{table(rows, header)}\n")
    print(NOTES)


def write_markdown(path: Path, payload: dict) -> None:
    lines = ["# meddl sequence models vs published figures and simple baselines", "",
             f"{describe(payload['environment'])}; {payload['environment']['date_utc']}; settings "
             f"`{ {k: v for k, v in payload['settings'].items() if v is not None} }`.", ""]
    for title, header, rows in sections(payload):
        lines += [f"## {title}", "", markdown_table(rows, header), ""]
    lines += [NOTES, "", "Published values, sources and how far they were checked: "
              "benchmarks/sequences_published.yaml.", ""]
    path.write_text("\n".join(lines))
