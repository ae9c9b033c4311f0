"""The report shell every task's report page is built from: one stylesheet, atomic writing of the page and its
figures, and the small formatting helpers (numbers, intervals, durations, escaped tables, sections, embedded
figures), so that all of meddl's reports look alike and none is ever half-written.

A task's report (`meddl.tasks.image.report`, `meddl.tasks.sequence.report`, ...) composes these; it embeds every
figure as a data URI (SVG where the figure has one, see `vector_uri`) and inlines the CSS, so the HTML opens
offline and can be mailed as a single file. Every text that may come from the user (label names from folders) goes
through `table`, `section` or `html.escape`.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from html import escape
from importlib.resources import files
from pathlib import Path

import numpy as np

DASH = "—"


def report_stylesheet() -> str:
    """The <style> block shared by every report page."""
    return "<style>\n" + files("meddl.evaluate").joinpath("report.css").read_text(encoding="utf-8") + "</style>"


def write_report_files(output_dir: Path, render_figures, render_html) -> Path:
    """Write `render_html(pngs)` as report.html and `render_figures()` ({name: PNG bytes}) as figures/NAME.png into
    `output_dir`, and return the HTML path. A figure rendered with its SVG (`meddl.evaluate.figures.Rendered`) is
    also written as figures/NAME.svg.

    Everything is built in a hidden folder inside `output_dir` and moved into place with `os.replace` only once
    complete, so a crash never leaves a half-written report; on failure the folder is removed and nothing new
    remains. The HTML embeds its figures, so it never depends on the files beside it.
    """
    output_dir = Path(output_dir)
    created = not output_dir.exists()
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=output_dir))
    try:
        pngs = render_figures()
        (staging / "figures").mkdir()
        written = []
        for name, data in pngs.items():
            files = {f"{name}.png": data, **({f"{name}.svg": data.svg} if hasattr(data, "svg") else {})}
            for file, content in files.items():
                (staging / "figures" / file).write_bytes(content)
                written.append(file)
        (staging / "report.html").write_text(render_html(pngs), encoding="utf-8")
        (output_dir / "figures").mkdir(exist_ok=True)
        for file in written:
            os.replace(staging / "figures" / file, output_dir / "figures" / file)
        os.replace(staging / "report.html", output_dir / "report.html")
    except BaseException:
        shutil.rmtree(output_dir if created else staging, ignore_errors=True)
        raise
    shutil.rmtree(staging)
    return output_dir / "report.html"


def fmt(value: float | None, digits: int = 3) -> str:
    """A metric as printed on the page: fixed decimals, or a dash where it is undefined."""
    if value is None or not np.isfinite(value):
        return DASH
    return f"{value:.{digits}f}"


def interval(bounds: list[float] | None) -> str:
    """A 95% interval as "low–high", or a dash where there is none."""
    if not bounds or any(v is None for v in bounds):
        return DASH
    return f"{fmt(bounds[0])}–{fmt(bounds[1])}"


def duration(seconds: float) -> str:
    """Seconds as a reader says them: "42 s", "3 min 05 s", "1 h 02 min"."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def table(header: list[str], rows: list[list[str]], css_class: str = "") -> str:
    """An HTML table with every cell escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def data_uri(png: bytes) -> str:
    """A PNG embedded in the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def vector_uri(rendered: bytes) -> str:
    """A figure embedded in the page as SVG where it was rendered with one (sharp at any zoom and in print), else
    as PNG. Base64 keeps the page valid whatever text the figure holds."""
    svg = getattr(rendered, "svg", None)
    if svg is None:
        return data_uri(rendered)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def section(title: str, note: str, body: str) -> str:
    """A titled section with an explanatory note; `body` is HTML already escaped."""
    return f'<section><h2>{escape(title)}</h2><p class="note">{escape(note)}</p>{body}</section>'


def figure(uri: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{escape(alt)}"></figure>'


def facts_line(facts: list[tuple[str, str]]) -> str:
    """The header's "Dataset x · Model y · ..." line."""
    return " · ".join(f"<span>{escape(k)} <b>{escape(v)}</b></span>" for k, v in facts)


def cards(values: list[tuple[str, str, str]]) -> str:
    """Headline cards: (name, value, caption) each."""
    return "".join(f'<div class="card"><div class="name">{escape(name)}</div><div class="value">{escape(value)}'
                   f'</div><div class="ci">{escape(caption)}</div></div>' for name, value, caption in values)


def page(title: str, facts: list[tuple[str, str]], headline: str, sections: list[str], date: str) -> str:
    """A whole report page: the header (title, facts line, headline cards), the sections and a footer."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}'
            f"</title>\n{report_stylesheet()}\n</head>\n<body>\n<main>\n<header><h1>{escape(title)}</h1>"
            f'<p class="facts">{facts_line(facts)}</p><div class="headline">{headline}</div></header>\n'
            + "\n".join(sections) + f"\n<footer>meddl · {escape(date)}</footer>\n</main>\n</body>\n</html>\n")


def config_section(config: dict) -> str:
    """The run's configuration, folded away at the end of a page."""
    import json

    return ("<section><details><summary>Configuration</summary><pre>"
            + escape(json.dumps(config, indent=2, default=str)) + "</pre></details></section>")


def reproducibility_section(record: dict | None) -> str:
    """The "Reproducibility" block from a `meddl.evaluate.reproducibility` record: software versions, the code's
    commit, checksums of the data and the checkpoint, and the precision used; empty without a record."""
    if not record:
        return ""
    versions = " · ".join(f"{name} {version}" for name, version in record["versions"].items() if version)
    code = record.get("code")
    commit = (f"git commit {code['commit']}" + (" with uncommitted changes" if code["dirty"] else "")
              if code else "not run from a git checkout (see the meddl version)")
    data = record["data"]
    same = {True: "the same samples and labels the model was trained with",
            False: "differs from the data the model was trained with (evaluated with --force?)",
            None: "no fingerprint from training to compare with"}[data["same_as_training"]]
    checkpoint, precision = record["checkpoint"], record["precision"]
    rows = [
        ["Software", versions],
        ["Code", commit],
        [f"Data ({data['split']} split)", f"SHA-256 {data['sha256']}: {same}"],
        ["Checkpoint", f"{checkpoint['path']} · file SHA-256 {checkpoint['sha256'] or DASH} · weights SHA-256 "
                       f"{checkpoint['weights_sha256']}"],
        ["Precision", f"training {precision['training'] or DASH} ({precision['training_source']}) · evaluation "
                      f"{precision['evaluation'] or DASH}"],
    ]
    note = ("What reproduces these numbers. The data checksum covers the samples and labels as loaded (after any "
            "resizing), so it identifies the data whatever files it came from; the weights checksum stays the same "
            "when meddl adds entries to the checkpoint file.")
    return section("Reproducibility", note, '<div class="table-wrap">'
                   + table(["", "Details"], rows, "reproducibility") + "</div>")
