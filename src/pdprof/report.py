"""Render a validation result (see :mod:`pdprof.validate`) as JSON, Markdown and HTML.

:func:`write_reports` renders all three documents in memory first and then
writes each one atomically through :mod:`pdprof.fsutil` (temp file in the
target directory + ``os.replace``), so a reader never sees a half-written
report and a failed run leaves no partial file behind. The HTML is self-contained: inline CSS, no scripts, no external
resources (figures are embedded as base64 PNG data URIs), every string taken
from the data passed through ``html.escape``. The Markdown links the figures
by relative path.
"""

from __future__ import annotations

import base64
import html
import json
import math
import numbers
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from pdprof import fsutil, model

MISSING = "—"
# A figure to show in the report: (PNG path, one-sentence caption).
Figure = tuple[Path, str]
STATUS_ORDER = ("PASS", "FAIL", "WARN", "SKIP")

CHECK_HEADERS = ("Status", "Check", "Phase", "Measured", "Threshold", "Explanation", "Diagnosis")
# (key in result["points"], column header); keys not listed in TEXT_POINT_KEYS are numeric.
POINT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("point", "Point"),
    ("variant", "Variant"),
    ("L", "L"),
    ("H", "H"),
    ("heads", "Heads"),
    ("kv_heads", "KV heads"),
    ("T", "T"),
    ("iters_fma", "iters_fma"),
    ("batch", "Batch"),
    ("page_size", "Page size"),
    ("prefill_ms", "Prefill step [ms]"),
    ("decode_ms", "Decode step [ms]"),
    ("decode_GBps", "Decode BW [GB/s]"),
    ("prefill_sm_pct", "Prefill SM %"),
    ("prefill_dram_pct", "Prefill DRAM %"),
    ("decode_sm_pct", "Decode SM %"),
    ("decode_dram_pct", "Decode DRAM %"),
)
TEXT_POINT_KEYS = frozenset({"point", "variant"})

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.5rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { font-weight: bold; text-align: center; }
.pass { background: #d4edda; color: #155724; }
.fail { background: #f8d7da; color: #721c24; }
.warn { background: #fff3cd; color: #856404; }
.skip { background: #e2e3e5; color: #383d41; }
.verdict { display: inline-block; padding: 0.2rem 0.6rem; border-radius: 0.2rem; }
figure { margin: 0 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9rem; color: #444; max-width: 60rem; }
"""


def format_number(value: Any, digits: int = 3) -> str:
    """Human-readable number: *digits* significant digits, thousands separators, "—" for missing.

    Values of 10**(digits-1) and above are shown as whole numbers (3352.4 -> "3,352")
    so that large bandwidths and token counts never switch to exponent notation.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return MISSING if value is None else str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    number = float(value)
    if math.isnan(number):
        return MISSING
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if abs(number) >= 10 ** (digits - 1):
        return f"{number:,.0f}"
    return f"{number:.{digits}g}"


def render_json(result: dict) -> str:
    """validation.json text; allow_nan=False because NaN/Infinity are not valid JSON."""
    return json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_markdown(result: dict, figures: Sequence[tuple[str, str]] = ()) -> str:
    """report.md: title, verdict, checks table, figures (link, caption), per-point table, provenance."""
    lines = [
        f"# pdprof validation — {_title_gpu(result)}",
        "",
        f"**Verdict: {result.get('verdict', MISSING)}** — {_summary_text(result)}",
        "",
        *_failed_points_markdown(result),
        "## Checks",
        "",
        *_markdown_table(CHECK_HEADERS, [_check_cells(c) for c in result.get("checks", [])]),
        "",
        *_figures_markdown(figures),
        "## Points",
        "",
        *_markdown_table([label for _, label in POINT_COLUMNS], _point_rows(result)),
        "",
        *_errata_markdown(),
        "## Provenance",
        "",
        *(f"- **{_md_cell(key)}**: {_md_cell(value)}" for key, value in _provenance_items(result)),
        "",
    ]
    return "\n".join(lines)


def render_html(result: dict, figures: Sequence[Figure] = ()) -> str:
    """report.html: the same sections as the Markdown, self-contained, status cells coloured."""
    esc = html.escape
    verdict = str(result.get("verdict", MISSING))
    check_rows = [_check_cells(c) for c in result.get("checks", [])]
    provenance = "".join(
        f"<li><strong>{esc(key)}</strong>: {esc(value)}</li>" for key, value in _provenance_items(result)
    )
    title = f"pdprof validation — {_title_gpu(result)}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{esc(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{esc(title)}</h1>",
            f'<p><span class="verdict status {_status_class(verdict)}">Verdict: {esc(verdict)}</span>'
            f" — {esc(_summary_text(result))}</p>",
            _failed_points_html(result),
            '<h2 id="checks">Checks</h2>',
            _html_table(CHECK_HEADERS, check_rows, "checks", numeric={3}, status_col=0),
            _figures_html(figures),
            '<h2 id="points">Points</h2>',
            _html_table(
                [label for _, label in POINT_COLUMNS],
                _point_rows(result),
                "points",
                numeric={i for i, (key, _) in enumerate(POINT_COLUMNS) if key not in TEXT_POINT_KEYS},
            ),
            _errata_html(),
            '<h2 id="provenance">Provenance</h2>',
            f"<ul>{provenance}</ul>",
            "</body>",
            "</html>",
            "",
        ]
    )


ERRATA_HEADERS = ("Quantity", "Seed note", "Correct", "Why")
ERRATA_NOTE = (
    "The seed note's formulas and numbers, checked against the analytic model (pdprof model); "
    "the model, not the seed, predicts the times above."
)


def _errata_rows() -> list[list[str]]:
    return [
        [
            e["quantity"],
            format_number(e["seed_value"], 6),
            format_number(e["correct_value"], 6),
            e["explanation"],
        ]
        for e in model.SEED_ERRATA
    ]


def _errata_markdown() -> list[str]:
    return [
        "## Where the seed note is wrong",
        "",
        ERRATA_NOTE,
        "",
        *_markdown_table(ERRATA_HEADERS, _errata_rows()),
        "",
    ]


def _errata_html() -> str:
    return "\n".join(
        [
            '<h2 id="seed-errata">Where the seed note is wrong</h2>',
            f"<p>{html.escape(ERRATA_NOTE)}</p>",
            _html_table(ERRATA_HEADERS, _errata_rows(), "errata", numeric={1, 2}),
        ]
    )


FAILED_POINT_HEADERS = ("Point", "Failed step", "Reason", "Log")
PARTIAL_NOTE = "Partial run: the checks below cover only the points that finished."


def _failed_point_rows(result: dict) -> list[list[str]]:
    return [
        [row["point"], ", ".join(row["failed_steps"]), row["reason"], ", ".join(row["logs"])]
        for row in result.get("failed_points", [])
    ]


def _failed_points_markdown(result: dict) -> list[str]:
    rows = _failed_point_rows(result)
    if not rows:
        return []
    return ["## Failed points", "", PARTIAL_NOTE, "", *_markdown_table(FAILED_POINT_HEADERS, rows), ""]


def _failed_points_html(result: dict) -> str:
    rows = _failed_point_rows(result)
    if not rows:
        return ""
    return "\n".join(
        [
            '<h2 id="failed-points">Failed points</h2>',
            f"<p>{html.escape(PARTIAL_NOTE)}</p>",
            _html_table(FAILED_POINT_HEADERS, rows, "failed-points"),
        ]
    )


def write_reports(result: dict, out_dir: Path, figures: Sequence[Figure] = ()) -> dict[str, Path]:
    """Write validation.json, report.md and report.html into *out_dir*; return their paths by kind.

    *figures* are embedded in the HTML and linked from the Markdown, in the order given.
    """
    out_dir = Path(out_dir)
    links = [(Path(os.path.relpath(path, out_dir)).as_posix(), caption) for path, caption in figures]
    # Render everything before writing anything: a rendering error must not leave a mixed set.
    documents = {
        "json": ("validation.json", render_json(result)),
        "markdown": ("report.md", render_markdown(result, links)),
        "html": ("report.html", render_html(result, figures)),
    }
    paths = {}
    for kind, (name, text) in documents.items():
        paths[kind] = out_dir / name
        fsutil.write_text(paths[kind], text)
    return paths


def _title_gpu(result: dict) -> str:
    names = result.get("gpu_name") or result.get("gpu") or []
    return ", ".join(str(name) for name in names) or "unknown GPU"


def _summary_text(result: dict) -> str:
    summary = result.get("summary", {})
    return ", ".join(f"{summary.get(status, 0)} {status}" for status in STATUS_ORDER)


def _check_cells(check: dict) -> list[str]:
    measured = check.get("measured")
    # 4 digits so that an R² of 0.9995 is not shown as "1" next to a 0.98 threshold.
    measured_text = (
        MISSING if measured is None else f"{format_number(measured, 4)} {check.get('unit', '')}".strip()
    )
    return [
        str(check.get("status", MISSING)),
        str(check.get("id", MISSING)),
        str(check.get("phase", MISSING)),
        measured_text,
        str(check.get("threshold", MISSING)),
        str(check.get("explanation", "")),
        str(check.get("diagnosis", "")),
    ]


def _point_rows(result: dict) -> list[list[str]]:
    return [[format_number(row.get(key)) for key, _ in POINT_COLUMNS] for row in result.get("points", [])]


def _provenance_items(result: dict) -> list[tuple[str, str]]:
    items = []
    for key, value in result.get("provenance", {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        items.append((str(key), ", ".join(str(v) for v in values) or MISSING))
    return items


def _figures_markdown(figures: Sequence[tuple[str, str]]) -> list[str]:
    if not figures:
        return []
    lines = ["## Figures", ""]
    for link, caption in figures:
        lines += [f"![{_md_cell(caption)}]({link})", "", _md_cell(caption), ""]
    return lines


def _figures_html(figures: Sequence[Figure]) -> str:
    """Each PNG as a base64 data URI, so the file stays self-contained."""
    if not figures:
        return ""
    items = []
    for path, caption in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        items.append(
            f'<figure id="{html.escape(Path(path).stem)}"><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )
    return '<h2 id="figures">Figures</h2>\n' + "\n".join(items)


def _md_cell(text: str) -> str:
    """Keep a value inside its Markdown table cell: escape pipes, fold newlines."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _markdown_table(headers: Sequence[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _status_class(status: str) -> str:
    return status.lower() if status in STATUS_ORDER else "unknown"


def _html_table(
    headers: Sequence[str],
    rows: list[list[str]],
    css_class: str,
    numeric: Collection[int] = (),
    status_col: int | None = None,
) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            classes = []
            if i == status_col:
                classes += ["status", _status_class(cell)]
            if i in numeric:
                classes.append("num")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{esc(cell)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
