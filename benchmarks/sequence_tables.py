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
    "- = not reported / not found. Each seed's 95% cluster-bootstrap intervals over records (ECG) or documents "
    "(text) are in sequences.json and each run's metrics.json. d = measured minus the best published value of that "
    "column (published models only, human excluded); measured rows are means over the seeds (Se/+P cells) or "
    "mean ± sample sd. meddl's ECG model is the default, ecg-boost: class-weighted gradient-boosted trees on "
    "patient-normalised RR intervals, the local rhythm and each beat's difference from its own record's median "
    "beat, per-class decision offsets chosen by record-grouped cross-validation on the DS1 training records. "
    "The logistic regression (RR features + beat averaged to 32 "
    "points per lead, class-balanced) is fitted on all DS1 beats (train + val). "
    "meddl's section model is passage-bilstm (the passages of an abstract labelled together, with their positions "
    "in the published abstract); 'TF-IDF + position' gives the logistic regression the same position features. "
    "meddl's PubMedQA model is the default BiLSTM with its learned answer prior (TF-IDF logistic model of the "
    "question, the passage and its last tokens, fitted on the training questions; see meddl.models.answer_model). "
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


def _mean(summary: dict, key: str) -> float | None:
    return (summary.get(key) or {}).get("mean")


def _mean_sd(figure: dict | None, digits: int = 1) -> str:
    """'83.1 ± 1.2' (percent) from a {"mean", "sd"} entry; the sd only where there are several seeds."""
    if not figure:
        return "-"
    if len(figure.get("values", [])) < 2:
        return _pct(figure["mean"], digits)
    return f"{_pct(figure['mean'], digits)} ± {_pct(figure['sd'], digits)}"


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


def _class_f1(method: dict, name: str) -> str:
    se, ppv = method["se"].get(name), method["ppv"].get(name)
    return "-" if se is None or ppv is None or se + ppv == 0 else f"{2 * se * ppv / (se + ppv):.1f}"


ECG_HEADER = ["method", "seeds", "N Se/+P", "S Se/+P", "V Se/+P", "F Se/+P", "F1 S", "F1 F", "macro-F1 NSVF",
              "macro-F1 NSV", "d NSVF", "d NSV"]


def _se_ppv(summary: dict, name: str) -> str:
    figures = summary["per_class"].get(name, {})
    return f"{_pct(_mean(figures, 'sensitivity'))}/{_pct(_mean(figures, 'ppv'))}"


def ecg_rows(result: dict, published: dict) -> list[list[str]]:
    """Measured rows (mean ± sd over the seeds; Se/+P cells are means) beside every published method, with the gap
    of the measured macro-F1 means to the best published value."""
    pub = published_ecg(published)
    best = {classes: max((v[classes] for v in pub.values() if v[classes] is not None), default=None)
            for classes in (ECG_CLASSES, ECG_CLASSES[:3])}
    summary, rows = result["summary"], []
    for label, method in ((f"meddl {summary['meddl']['model']} (this run)", summary["meddl"]),
                          ("logistic regression (this run)", summary["logreg"])):
        nsvf, nsv = _mean(method, "macro_f1"), _mean(method, "macro_f1_nsv")
        rows.append([label, str(method["seeds"])] + [_se_ppv(method, c) for c in ECG_CLASSES]
                    + [_mean_sd(method["per_class"].get(c, {}).get("f1")) for c in ("S", "F")]
                    + [_mean_sd(method.get("macro_f1")), _mean_sd(method.get("macro_f1_nsv")),
                       _signed(None if nsvf is None or best[ECG_CLASSES] is None else 100 * nsvf - best[ECG_CLASSES]),
                       _signed(None if nsv is None or best[ECG_CLASSES[:3]] is None
                               else 100 * nsv - best[ECG_CLASSES[:3]])])
    for key, method in published["ecg_inter_patient"]["methods"].items():
        f1 = pub[key]
        unconfirmed = any(not all(v.values()) for v in method["confirmed"].values())
        rows.append([method["name"], ""]
                    + [f"{_published_value(method, 'se', c)}/{_published_value(method, 'ppv', c)}" for c in ECG_CLASSES]
                    + [_class_f1(method, c) for c in ("S", "F")]
                    + ["-" if f1[ECG_CLASSES] is None else f"{f1[ECG_CLASSES]:.1f}" + ("†" if unconfirmed else ""),
                       "-" if f1[ECG_CLASSES[:3]] is None else f"{f1[ECG_CLASSES[:3]]:.1f}", "", ""])
    return rows


PER_CLASS_HEADER = ["class", "Se", "+P", "F1"]


def per_class_rows(result: dict) -> list[list[str]]:
    """meddl's per-class sensitivity, positive predictivity and F1, mean ± sd over the seeds."""
    per_class = result["summary"]["meddl"]["per_class"]
    return [[name] + [_mean_sd(figures.get(f)) for f in ("sensitivity", "ppv", "f1")]
            for name, figures in per_class.items()]


WALL_HEADER = ["seed", "wall time (s)", "epochs run", "best epoch"]


def wall_rows(result: dict) -> list[list[str]]:
    """Training + evaluation wall time of each seed's `meddl.api.train` call."""
    return [[seed, f"{row['meddl']['wall_time_s']:.0f}", str(row["meddl"].get("epochs_run", "-")),
             str(row["meddl"].get("best_epoch", "-"))] for seed, row in result["per_seed"].items()]


TIMING_HEADER = ["batch size", "beats", "seconds", "beats/s", "torch threads"]


def timing_rows(result: dict) -> list[list[str]]:
    timing = next(row["timing"] for row in result["per_seed"].values() if "timing" in row)
    return [[str(r["batch_size"]), str(r["beats"]), f"{r['seconds']:.2f}", f"{r['beats_per_s']:.0f}",
             str(timing["torch_threads"])] for r in timing["runs"]]


TEXT_HEADER = ["method", "seeds", "acc", "macro-F1", "per-class F1", "d acc", "d macro-F1"]
# the measured rows of each text table: (summary key, label); a key a run lacks is skipped
TEXT_METHODS = (("meddl", None), ("majority", "majority '{predicts}' (this run)"),
                ("tfidf_logreg", "TF-IDF + logistic regression (this run)"),
                ("tfidf_position", "TF-IDF + position + logistic regression (this run)"))


def text_rows(result: dict, published: dict | None, versus: str = "tfidf_logreg") -> list[list[str]]:
    """QA (`published` given): d against the best published model; sections: d against the `versus` baseline."""
    summary = result["summary"]
    if published:
        models = [m for key, m in published["pubmedqa"]["methods"].items() if key != "human_single"]
        best = {k: max((m[k] for m in models if m[k] is not None), default=None) for k in ("acc", "macro_f1")}
    else:
        best = {k: 100 * _mean(summary[versus], k) for k in ("acc", "macro_f1")}
    rows = []
    for key, label in TEXT_METHODS:
        if key not in summary:
            continue
        method = summary[key]
        label = f"meddl {method['model']} (this run)" if key == "meddl" else label.format(**method)
        per_class = " / ".join(f"{name} {_pct(_mean(figures, 'f1'), 0)}" for name, figures in method["per_class"].items())
        rows.append([label, str(method["seeds"]), _mean_sd(method.get("acc")), _mean_sd(method.get("macro_f1")),
                     per_class]
                    + [_signed(None if best[k] is None or _mean(method, k) is None else 100 * _mean(method, k) - best[k])
                       for k in ("acc", "macro_f1")])
    for method in (published["pubmedqa"]["methods"].values() if published else []):
        rows.append([f"{method['name']} (published)", ""]
                    + ["-" if method[k] is None else str(method[k]) for k in ("acc", "macro_f1")] + ["", "", ""])
    return rows


LM_HEADER = ["model", "seed", "test perplexity", "cross-entropy (nats/token)", "test tokens", "vocabulary"]


def lm_rows(result: dict) -> list[list[str]]:
    rows = []
    for seed, row in result["per_seed"].items():
        test, kn = row["meddl"]["test"], row["kneser_ney"]
        rows += [[f"meddl {row['meddl']['model']} (this run)", seed, f"{test['perplexity']:.1f}",
                  f"{test['cross_entropy']:.3f}", str(test.get("tokens", "-")), str(kn["vocab_size"])],
                 ["interpolated Kneser-Ney trigram (this run)", seed, f"{kn['perplexity']:.1f}",
                  f"{kn['cross_entropy']:.3f}", str(kn["tokens"]), str(kn["vocab_size"])]]
    return rows


def sections(payload: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table whose task ran; a failed task becomes a one-line table."""
    published, results, out = payload["published"], payload["results"], []
    builders = {
        "ecg": [("ECG inter-patient (MIT-BIH DS1 -> DS2), percent, mean ± sd over seeds", ECG_HEADER,
                 lambda r: ecg_rows(r, published)),
                ("meddl's ECG model per class (DS2), percent, mean ± sd over seeds", PER_CLASS_HEADER, per_class_rows),
                ("ECG training wall time per seed (train + evaluate)", WALL_HEADER, wall_rows),
                ("ECG inference on this CPU (DS2 test beats, first seed's model)", TIMING_HEADER, timing_rows)],
        "qa": [("PubMedQA reasoning-required, test (500), percent, mean ± sd over seeds", TEXT_HEADER,
                lambda r: text_rows(r, published)),
               ("PubMedQA training wall time per seed", WALL_HEADER, wall_rows)],
        "sections": [("PubMedQA section classification, test, percent, mean ± sd over seeds (d vs TF-IDF + "
                      "position where run, else TF-IDF)", TEXT_HEADER,
                      lambda r: text_rows(r, None, "tfidf_position" if "tfidf_position" in r["summary"]
                                          else "tfidf_logreg")),
                     ("Section classification training wall time per seed", WALL_HEADER, wall_rows)],
        "lm": [("Language model on PubMedQA abstracts, test split", LM_HEADER, lm_rows)],
    }
    for task, result in results.items():
        for title, header, build in builders[task]:
            if "error" in result:
                out.append((title, ["status"], [[f"FAILED: {result['error']}"]]))
                break
            out.append((title, header, build(result)))
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
