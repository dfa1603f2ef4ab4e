"""The ``simulate --report`` HTML file: one self-contained page a reviewer can open offline.

Contract: ``render(doc)`` turns the ``simulate --json`` object into one HTML document with
inline CSS and inline SVG charts generated here (actions by label, per-rule hits split by
label, false positives by extension) and the tables behind them. ``write(path, doc)`` writes
it (UTF-8). The page has no script, loads nothing (a Content-Security-Policy forbids any
fetch), and every message-derived string (file names, paths, reasons, rule ids) is escaped,
so a hostile name such as ``<script>.exe`` renders as text; invisible characters and
padding are shown first (``corpus.visible``: ``invoice\\u202Egpj.exe``).

Figures carry ``data-figure`` attributes (``messages``, ``unreadable``, ``false-positives``,
rule hits as ``rule:<id>:hits`` ...) so tests can find them in the rendered DOM.

Limits: charts show at most ``MAX_BARS`` bars (the largest); the tables show everything in
``doc`` (which itself holds only the bounded samples).
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from mailpolicy.corpus.visible import visible
from mailpolicy.simulator.score import DEFAULT_RULE, ratio

MAX_BARS = 30
COLORS = {"benign": "#3b7dd8", "malicious": "#d8453b", "(none)": "#9a9a9a"}
FALLBACK = ("#7a5cc2", "#2f9e6e", "#c28a1e", "#555555")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;
 max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}
h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
.sub{color:#666}
.partial{background:#fde7c4;border:1px solid #e0a84a;padding:.6em 1em;font-weight:600}
table{border-collapse:collapse;margin:.6em 0}
th,td{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top;
 overflow-wrap:anywhere}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:1em}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em; min-width:8em}
.card b{display:block;font-size:1.6em}
.bad b{color:#c0392b}
svg{display:block;margin:.5em 0}
svg text{font:12px system-ui,sans-serif;fill:#222}
.legend span{display:inline-block;margin-right:1em}
.legend i{display:inline-block;width:.9em; height:.9em;margin-right:.3em;vertical-align:-.1em}
code{font-size:.95em}
"""


def esc(value: object) -> str:
    """Text for HTML and SVG: invisible characters and padding shown (``corpus.visible``),
    then everything escaped, quotes included."""
    return html.escape(visible(None if value is None else str(value)), quote=True)


def _color(series: str, i: int) -> str:
    return COLORS.get(series) or FALLBACK[i % len(FALLBACK)]


def bar_chart(rows: list[tuple[str, list[int]]], series: list[str], title: str) -> str:
    """Horizontal stacked bars: one row per (label, counts per series), as inline SVG."""
    rows = rows[:MAX_BARS]
    if not rows:
        return '<p class="sub">nothing to chart</p>'
    label_w, bar_w, row_h = 230, 560, 24
    height = row_h * len(rows) + 10
    top = max((sum(c) for _, c in rows), default=0) or 1
    out = [
        (
            f'<svg role="img" aria-label="{esc(title)}" width="{label_w + bar_w + 70}" '
            f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>'
        )
    ]
    for r, (label, counts) in enumerate(rows):
        y = 5 + r * row_h
        shown = label if len(label) <= 34 else label[:33] + "…"
        out.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{esc(shown)}'
            f"<title>{esc(label)}</title></text>"
        )
        x = float(label_w)
        for i, (name, n) in enumerate(zip(series, counts, strict=True)):
            if not n:
                continue
            w = bar_w * n / top
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                f'fill="{_color(name, i)}"><title>{esc(label)}: {esc(name)} {n}</title></rect>'
            )
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{sum(counts)}</text>')
    out.append("</svg>")
    legend = (
        "".join(
            f'<span><i style="background:{_color(s, i)}"></i>{esc(s)}</span>'
            for i, s in enumerate(series)
        )
        if len(series) > 1
        else ""
    )
    return "".join(out) + (f'<div class="legend">{legend}</div>' if legend else "")


def table(
    headers: list[str],
    rows: Sequence[Sequence[object]],
    numeric: set[int] | None = None,
    figures: list[list[str | None]] | None = None,
) -> str:
    """An HTML table; cells in ``numeric`` columns are right-aligned; ``figures`` names cells."""
    numeric = numeric or set()
    head = "".join(
        f"<th{' class=n' if i in numeric else ''}>{esc(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, v in enumerate(row):
            fig = figures[r][i] if figures and i < len(figures[r]) else None
            attrs = (' class="n"' if i in numeric else "") + (
                f' data-figure="{esc(fig)}"' if fig else ""
            )
            cells.append(f"<td{attrs}>{esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(title: str, value: object, figure: str, bad: bool = False) -> str:
    return (
        f'<div class="card{" bad" if bad else ""}"><b data-figure="{esc(figure)}">{esc(value)}</b>'
        f"{esc(title)}</div>"
    )


def _where(s: dict[str, Any]) -> str:
    return f"{s['path']}:{s['key']}" if s.get("key") is not None else str(s["path"])


def _samples(items: list[dict[str, Any]], total: int, what: str) -> str:
    if not total:
        return f"<p>No {esc(what)}.</p>"
    more = f" (first {len(items)} of {total})" if len(items) < total else ""
    rows = [
        [
            _where(s),
            s.get("attachment") or "",
            ", ".join(s.get("attachments") or []),
            s["action"],
            s.get("rule") or DEFAULT_RULE,
            s.get("reason") or "",
        ]
        for s in items
    ]
    return f"<p>{total} {esc(what)}{esc(more)}.</p>" + table(
        ["message", "attachment", "all attachments", "action", "rule", "reason"], rows
    )


def render(doc: dict[str, Any]) -> str:
    """The whole page for one ``simulate --json`` object."""
    labels = list(doc["labels"])
    actions = list(doc["actions"]) + (["unreadable"] if doc["unreadable"] else [])
    p: list[str] = []
    title = f"mailpolicy simulation: {doc['policy']}"
    p.append(f"<h1>{esc(title)}</h1>")
    p.append(
        f'<p class="sub">policy <code>{esc(doc.get("policy_path", ""))}</code> over '
        f"{esc(', '.join(doc['corpus']))}; {esc(doc['evaluator'])} evaluator, "
        f"{esc(doc['workers'])} workers, {esc(doc['elapsed_s'])} s, "
        f"{esc(doc['messages_per_s'])} messages/s</p>"
    )
    if doc.get("partial"):
        p.append(
            '<p class="partial" data-figure="partial">Partial results: the run was '
            "interrupted before the end of the corpus.</p>"
        )
    p.append(
        '<div class="cards">'
        + _card("messages", doc["messages"], "messages")
        + _card("unreadable", doc["unreadable"], "unreadable", bool(doc["unreadable"]))
        + _card(
            "false positives",
            doc["false_positives"],
            "false-positives",
            bool(doc["false_positives"]),
        )
        + _card(
            "false negatives",
            doc["false_negatives"],
            "false-negatives",
            bool(doc["false_negatives"]),
        )
        + _card("precision", ratio(doc["precision"]), "precision")
        + _card("recall", ratio(doc["recall"]), "recall")
        + "</div>"
    )

    p.append("<h2>Actions by label</h2>")
    rows = [(a, [doc["labels"][lab].get(a, 0) for lab in labels]) for a in actions]
    p.append(bar_chart(rows, labels, "actions by label"))
    trows = [[a, sum(c), *c] for a, c in rows]
    figs: list[list[str | None]] = [
        [None, f"action:{a}", *[f"action:{a}:{lab}" for lab in labels]] for a, _ in rows
    ]
    p.append(table(["action", "messages", *labels], trows, set(range(1, len(labels) + 2)), figs))

    c = doc["confusion"]
    p.append("<h2>Against the labels</h2>")
    p.append(
        table(
            ["label", "delivered (allow, tag)", "stopped (block, quarantine, strip, discard)"],
            [
                ["benign", c["true_negatives"], c["false_positives"]],
                ["malicious", c["false_negatives"], c["true_positives"]],
            ],
            {1, 2},
            [
                [None, "true-negatives", "confusion:false-positives"],
                [None, "confusion:false-negatives", "true-positives"],
            ],
        )
    )
    p.append(
        "<p>Malicious is the positive class. Precision: of the labelled messages stopped, "
        "the share that were malicious. Recall: of the malicious messages, the share "
        "stopped.</p>"
    )

    p.append("<h2>Rules</h2>")
    rules = doc["rules"]
    hit_rows = sorted((r for r in rules if r["hits"]), key=lambda r: -r["hits"])
    other = [r["hits"] - r["benign_hits"] - r["malicious_hits"] for r in hit_rows]
    p.append(
        bar_chart(
            [
                (r["id"], [r["benign_hits"], r["malicious_hits"], o])
                for r, o in zip(hit_rows, other, strict=True)
            ],
            ["benign", "malicious", "(none)"],
            "hits per rule by label",
        )
    )
    p.append(
        table(
            ["rule", "action", "line", "hits", "benign hits", "malicious hits"],
            [
                [
                    r["id"],
                    r["action"],
                    r["line"] or "",
                    r["hits"],
                    r["benign_hits"],
                    r["malicious_hits"],
                ]
                for r in rules
            ],
            {2, 3, 4, 5},
            [
                [
                    None,
                    None,
                    None,
                    f"rule:{r['id']}:hits",
                    f"rule:{r['id']}:benign_hits",
                    f"rule:{r['id']}:malicious_hits",
                ]
                for r in rules
            ],
        )
    )

    p.append("<h2>False positives: benign mail stopped</h2>")
    by_ext = doc["false_positives_by_extension"]
    if by_ext:
        p.append(
            bar_chart(
                [(e or "(none)", [n]) for e, n in by_ext.items()],
                ["benign"],
                "false positives by extension",
            )
        )
        p.append(
            table(
                ["extension", "false positives"],
                [[e, n] for e, n in by_ext.items()],
                {1},
                [[None, f"fp-extension:{e}"] for e in by_ext],
            )
        )
    p.append(_samples(doc["samples"]["false_positives"], doc["false_positives"], "false positives"))
    p.append("<h2>False negatives: malicious mail delivered</h2>")
    p.append(_samples(doc["samples"]["false_negatives"], doc["false_negatives"], "false negatives"))
    if doc["unreadable"]:
        p.append("<h2>Unreadable messages</h2>")
        items = doc["samples"]["unreadable"]
        more = f" (first {len(items)})" if len(items) < doc["unreadable"] else ""
        p.append(f"<p>{doc['unreadable']} messages could not be read{esc(more)}.</p>")
        p.append(table(["message", "reason"], [[_where(s), s["reason"]] for s in items]))
    if doc.get("defective"):
        p.append("<h2>Messages with MIME defects</h2>")
        p.append(
            f'<p><span data-figure="defective">{esc(doc["defective"])}</span> messages were '
            "decided although the parser found defects in them.</p>"
        )
        p.append(
            table(
                ["message", "action", "defects"],
                [
                    [_where(s), s["action"], ", ".join(s["defects"])]
                    for s in doc["samples"]["defective"]
                ],
            )
        )
    spent = doc.get("budget_exhausted") or {}
    if sum(spent.values()):
        p.append("<h2>Messages over their budget</h2>")
        p.append(
            f'<p><span data-figure="budget-exhausted">{esc(sum(spent.values()))}</span> '
            f"messages ran out of their time or memory budget (time {esc(spent['time'])}, "
            f"memory {esc(spent['memory'])}); each was decided on the facts read before, "
            "plus <code>message unscannable</code>.</p>"
        )
        p.append(
            table(
                ["message", "budget", "action"],
                [[_where(s), s["budget"], s["action"]] for s in doc["samples"]["budget_exhausted"]],
            )
        )

    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(p)
        + "</body></html>\n"
    )


def write(path: str, doc: dict[str, Any]) -> None:
    """Write the report atomically (a reader never sees half a page)."""
    text = render(doc)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from the web server
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
