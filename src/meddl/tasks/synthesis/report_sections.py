"""The parts of a GAN run's report that come from `meddl gan evaluate` (its metrics.json): the headline cards and
the quality section that opens the page (FID, precision/recall, memorisation), and the use of the samples for
classification (TSTR vs TRTR, the equal-step augmentation comparison), which follows the sample grids.

Built from the shared report shell (`meddl.evaluate.report`); every text is escaped.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from meddl.evaluate.report import DASH, cards, data_uri, figure, fmt, section, table

EVALUATE_HINT = "meddl gan evaluate CHECKPOINT"


def _sig(value: float | None) -> str:
    """A distance on whatever scale its features have: four significant digits (fmt's fixed decimals would print
    a domain FID of 0.0042 as 0.00)."""
    return DASH if value is None else f"{value:.4g}"


def headline(metrics: dict | None) -> str:
    """Cards for quality, not losses: domain FID, Inception FID when computed, precision, recall, near-copies."""
    if not metrics:
        return cards([("Quality", "not evaluated", f"run {EVALUATE_HINT}")])
    domain, inception, pixels = metrics["domain"], metrics["inception"], metrics["memorisation"]["pixels"]
    values = [("Domain FID", _sig(domain["fid"]), f"real test vs train: {_sig(domain['fid_real_test_vs_train'])}")]
    if inception.get("fid") is not None:
        values.append(("Inception FID", _sig(inception["fid"]), f"{inception['n']} real vs {inception['n']} synthetic"))
    values += [("Precision", fmt(domain["precision"]), f"fidelity (k={domain['k']})"),
               ("Recall", fmt(domain["recall"]), f"diversity (k={domain['k']})"),
               ("Near-copies", f"{pixels['flagged_fraction']:.1%}",
                f"pixels; real test images: {pixels['expected_fraction']:.1%}")]
    return cards(values)


def quality(metrics: dict | None) -> str:
    """The first section: how close, how varied and how original the samples are."""
    if not metrics:
        return section("Quality", f"Not evaluated yet: {EVALUATE_HINT} measures FID, precision/recall and "
                       "memorisation and rewrites this page.", "")
    domain, inception, memory = metrics["domain"], metrics["inception"], metrics["memorisation"]
    n, k = domain["n_manifold"], domain["k"]
    inception_note = (f"Standard FID: Inception-v3 pool features of {inception['n']} real and {inception['n']} "
                      "synthetic images resized to 299 px." if inception.get("fid") is not None
                      else f"Not computed: {inception.get('skipped', 'no Inception weights')}.")
    rows = [
        ["Domain FID", _sig(domain["fid"]), _sig(domain["fid_real_test_vs_train"]),
         f"Fréchet distance between real training and {metrics['n_synthetic']} synthetic images in the "
         f"{domain['feature_dim']}-d penultimate features of a fast-cnn trained on the real data; lower is better. "
         "Real vs real: the real test images' distance, about what a perfect generator scores. No interval computed."],
        ["Inception FID", _sig(inception.get("fid")), DASH, inception_note],
        ["Precision", fmt(domain["precision"]), DASH,
         f"Share of synthetic images inside the real images' k-nearest-neighbour manifold (Kynkäänniemi et al. 2019; "
         f"k={k}, {n} real vs {n} synthetic, domain features): fidelity."],
        ["Recall", fmt(domain["recall"]), DASH,
         "Share of real images inside the synthetic images' manifold: diversity."],
    ]
    memory_rows = [[space, f"{memory[space]['flagged_fraction']:.2%} ({memory[space]['n_flagged']})",
                    f"{memory[space]['expected_fraction']:.2%}", str(memory[space]["exact_copies"]),
                    _sig(memory[space]["median_distance"]), _sig(memory[space]["median_test_distance"])]
                   for space in ("pixels", "features")]
    pictures = "".join(figure(data_uri(Path(path).read_bytes()), f"nearest training images ({space})")
                       for space, path in memory.get("figures", {}).items() if Path(path).is_file())
    body = ('<div class="table-wrap">' + table(["Metric", "Value", "Real vs real", "What it means"], rows, "metrics")
            + "</div><h3>Memorisation</h3>"
            + '<p class="note">Each synthetic image\'s distance to its nearest real training image. Near-copy: closer '
            "than 99% of real test images (unseen patients) are to a training image, so about 1% of real test images "
            "are flagged by the same rule; a generator that copies flags far more.</p>"
            + '<div class="table-wrap">' + table(["Space", "Near-copies", "Real test images", "Exact copies",
                                                   "Median distance", "Real test median"], memory_rows) + "</div>"
            + pictures)
    return section("Quality: fidelity, diversity, memorisation",
                   f"From {EVALUATE_HINT} (evaluation/metrics.json), on {metrics['n_synthetic']} synthetic images.",
                   body)


def _auc(summary: dict) -> str:
    ci = summary.get("auc_ci95") or [None, None]
    value = fmt(summary.get("auc"))
    return value if ci[0] is None else f"{value} [{fmt(ci[0])}, {fmt(ci[1])}]"


def _tstr(utility: dict) -> str:
    trtr, tstr = utility["trtr"], utility["tstr"]
    rows = [[name, str(arm["n_train"]), str(arm["epochs"]), str(arm["steps"]), _auc(arm), fmt(arm["acc"])]
            for name, arm in (("TRTR: real -> real test", trtr), ("TSTR: synthetic -> real test", tstr))]
    ratio = utility.get("tstr_over_trtr")
    note = ("Train on synthetic, test on real, beside the same classifier trained on the real training set"
            + ("." if ratio is None else f"; TSTR/TRTR AUC {ratio:.3f} (near 1: the samples hold what separates the "
               "classes).")
            + ("" if trtr["steps"] == tstr["steps"] else " Both train the same epochs, so their steps differ with "
               "the size of their training sets."))
    return ("<h3>Train on synthetic, test on real</h3>" + f'<p class="note">{escape(note)}</p>'
            + '<div class="table-wrap">' + table(["Classifier", "Training images", "Epochs", "Steps",
                                                   "Test AUC [95% CI]", "Test ACC"], rows) + "</div>")


def _augmentation(utility: dict) -> str:
    budget = utility["augmentation_steps"]
    rows = []
    for row in utility["augmentation"]:
        alone, mixed = row["real_only"], row["real_plus_synthetic"]
        steps = str(alone["steps"]) if alone["steps"] == mixed["steps"] else f"{alone['steps']} / {mixed['steps']}"
        gain = DASH if row["auc_gain"] is None else f"{row['auc_gain']:+.3f}"
        rows.append([f"{row['fraction']:.0%}", str(row["n_real"]), str(row["n_synthetic"]), steps, _auc(alone),
                     _auc(mixed), gain])
    note = (f"Real training images alone vs with the synthetic ones added, at fractions of the real training set; "
            f"real validation and test sets. Equal steps: every classifier (fast-cnn) trains {budget['epochs']} "
            f"epoch(s) of {budget['samples_per_epoch']} samples at batch size {budget['batch_size']} (its training "
            "set repeated to that size), so a gain comes from the synthetic images, not from training longer.")
    warning = f'<p class="warning">{escape("Warning: " + budget["warning"])}</p>' if budget.get("warning") else ""
    return ("<h3>Augmentation</h3>" + f'<p class="note">{escape(note)}</p>' + warning + '<div class="table-wrap">'
            + table(["Real fraction", "Real images", "Synthetic images", "Steps (each)", "Real only AUC [95% CI]",
                     "Real + synthetic AUC [95% CI]", "Gain"], rows) + "</div>")


def utility(metrics: dict | None) -> str:
    """The samples' use for classification, after the sample grids; nothing before an evaluation."""
    if not metrics:
        return ""
    result = metrics["utility"]
    title = "Use for classification"
    if "skipped" in result:
        return section(title, f"Skipped: {result['skipped']}.", "")
    parts = ([_tstr(result)] if "tstr" in result else []) + ([_augmentation(result)] if "augmentation" in result
                                                             else [])
    if not parts:
        return section(title, "Not run (TSTR and the augmentation comparison were turned off).", "")
    return section(title, "Test AUC of classifiers trained with and without the synthetic images, on the same "
                   "real test set; 95% bootstrap intervals.", "".join(parts))
