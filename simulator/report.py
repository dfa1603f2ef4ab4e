"""The ``simulate --report`` HTML file: one self-contained page a reviewer can open offline.

Contract: ``render(doc)`` turns the ``simulate --json`` object into one HTML document with
inline CSS and inline SVG charts generated here (actions by label, per-rule hits split by
label, false positives by extension), each with its legend, and the tables behind them.
``write(path, doc)`` writes it (UTF-8). The page has no script, loads nothing (a
Content-Security-Policy forbids any fetch), and every message-derived string (file names,
paths, reasons, rule ids) is escaped, so a hostile name such as ``<script>.exe`` renders as
text; invisible characters and padding are shown first (``corpus.visible``:
``invoice\\u202Egpj.exe``) and an attachment name's tricks are named beside it
(``bidi-control``, ``corpus.names.tricks``).

Wherever a rule appears (hits per rule, false positive and negative rows) its line and
canonical text stand beside its id (``line 12: block attachment ...``, from the document's
``rule_source``). Every sample row shows an attachment: the one that decided, else the
names (and true types, when the document has them) the message carried.

Wrapping: words are never split. Cells break at spaces; inside a long token (a path, a
name, a digest) a break opportunity follows each ``/ . _ - : , ; = @ +`` and precedes a
``\\`` escape (``<wbr>``), and only cells holding such tokens (class ``tok``) may break a
token anywhere, and only where it cannot fit otherwise; every column has a minimum width
wide enough for ordinary words.

A policy that stages rules (``mode audit``) gets a section "Staged rules (mode audit)":
one row per staged rule with what it would decide if enforced (``simulator.staged``),
figures ``staged:<id>:<key>``, and the benign messages it would newly stop.

Figures carry ``data-figure`` attributes (``messages``, ``unreadable``, ``false-positives``,
rule hits as ``rule:<id>:hits`` ...), rule cells ``data-rule``, charts ``data-chart`` and
their legends ``data-legend``, so tests can find them in the rendered DOM.

Limits: charts show at most ``MAX_BARS`` bars (the largest), and a rule's text under its
bar is cut to the chart's width (the full text is in the table below and the bar's
tooltip); the tables show everything in ``doc`` (which itself holds only the bounded
samples).
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections.abc import Sequence
from typing import Any

from mailpolicy.corpus.names import tricks
from mailpolicy.corpus.visible import visible
from mailpolicy.simulator.score import DEFAULT_RULE, ratio
from mailpolicy.simulator.staged import COLUMNS

MAX_BARS = 30
COLORS = {"benign": "#3b7dd8", "malicious": "#d8453b", "(none)": "#9a9a9a"}
FALLBACK = ("#7a5cc2", "#2f9e6e", "#c28a1e", "#555555")
#: What each series of a chart means, in its legend.
SERIES = {
    "benign": "benign (labelled)",
    "malicious": "malicious (labelled)",
    "(none)": "no label",
}
#: A token longer than this gets break opportunities after its separators.
LONG_TOKEN = 16
_SPACES = re.compile(r"( +)")
#: After a separator, or before a backslash escape (not between the two of ``\\``).
_BREAK = re.compile(r"(?<=[/.,:;_=@+\-])(?=.)|(?<=[^\\])(?=\\)")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;
 max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em;overflow-wrap:anywhere}
h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
.sub{color:#666}
.sub code{overflow-wrap:anywhere}
.partial{background:#fde7c4;border:1px solid #e0a84a;padding:.6em 1em;font-weight:600}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.6em 0}
table.wide{width:100%}
th,td{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top;
 word-break:normal;overflow-wrap:normal;hyphens:none}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.n{white-space:nowrap}
td.tok{overflow-wrap:anywhere;min-width:9em}
td.text{overflow-wrap:anywhere;min-width:10em}
td.rule{min-width:14em}
.rule code{display:block;overflow-wrap:anywhere}
.rtext{display:block;color:#555;font-size:.92em;overflow-wrap:anywhere}
.trick{display:inline-block;margin-left:.4em;padding:0 .3em;border-radius:3px;
 background:#fbe3e1;color:#8a1f14;font-size:.85em;white-space:nowrap}
.type,.note{color:#555;font-size:.92em}
.also{display:block;color:#555;font-size:.92em}
.cards{display:flex;flex-wrap:wrap;gap:1em}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em; min-width:8em}
.card b{display:block;font-size:1.6em}
.bad b{color:#c0392b}
figure.chart{margin:.5em 0}
svg{display:block;margin:.5em 0;max-width:100%;height:auto}
svg text{font:12px system-ui,sans-serif;fill:#222}
svg text.note{font-size:11px;fill:#666}
.legend{color:#444}
.legend span{display:inline-block;margin-right:1em}
.legend i{display:inline-block;width:.9em; height:.9em;margin-right:.3em;vertical-align:-.1em}
code{font-size:.95em}
"""


class Html(str):
    """Markup built here from escaped parts: ``table`` puts it in a cell as is."""


def esc(value: object) -> str:
    """Text for HTML and SVG: invisible characters and padding shown (``corpus.visible``),
    then everything escaped, quotes included."""
    return html.escape(visible(None if value is None else str(value)), quote=True)


def breakable(value: object) -> Html:
    """``esc(value)`` with a ``<wbr>`` after each separator of a long token (module
    docstring), so a path breaks at ``/`` or ``.`` and never inside a word.

    >>> breakable("corpus/samples/maildir/benign x.exe")
    'corpus/<wbr>samples/<wbr>maildir/<wbr>benign x.exe'
    """
    out = []
    for token in _SPACES.split(visible(None if value is None else str(value))):
        pieces = _BREAK.split(token) if len(token) > LONG_TOKEN else [token]
        out.append("<wbr>".join(html.escape(p, quote=True) for p in pieces))
    return Html("".join(out))


def name_html(name: str) -> Html:
    """An attachment name as shown, each trick it uses named beside it."""
    named = "".join(f'<span class="trick">{esc(t)}</span>' for t in tricks(name))
    return Html(f'<span class="name">{breakable(name)}</span>{named}')


def rule_html(rule: str | None, source: dict[str, Any]) -> Html:
    """A rule id with its line and text beneath (``line 12: block attachment ...``)."""
    rid = rule or DEFAULT_RULE
    text = rule_note(rid, source)
    note = f'<span class="rtext">{breakable(text)}</span>' if text else ""
    return Html(
        f'<span class="rule" data-rule="{esc(rid)}"><code>{breakable(rid)}</code>{note}</span>'
    )


def rule_note(rid: str, source: dict[str, Any]) -> str:
    """``line 12: block ...`` for a rule id (``source``: the document's ``rule_source``)."""
    src = source.get(rid) or {}
    if not src.get("text"):
        return ""
    return (f"line {src['line']}: " if src.get("line") else "") + str(src["text"])


def _color(series: str, i: int) -> str:
    return COLORS.get(series) or FALLBACK[i % len(FALLBACK)]


def bar_chart(
    rows: list[tuple[str, list[int]]],
    series: list[str],
    title: str,
    notes: list[str] | None = None,
) -> str:
    """Horizontal stacked bars: one row per (label, counts per series), as inline SVG in a
    ``figure`` with its legend; ``notes`` (one per row) are written under the bars."""
    rows = rows[:MAX_BARS]
    if not rows:
        return '<p class="sub">nothing to chart</p>'
    label_w, bar_w, row_h = 230, 560, 38 if notes else 24
    width = label_w + bar_w + 70
    note_chars = (bar_w + 60) // 6
    height = row_h * len(rows) + 10
    top = max((sum(c) for _, c in rows), default=0) or 1
    out = [
        (
            f'<svg role="img" aria-label="{esc(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{esc(title)}</title>"
        )
    ]
    for r, (label, counts) in enumerate(rows):
        y = 5 + r * row_h
        note = notes[r] if notes and r < len(notes) else ""
        shown = label if len(label) <= 34 else label[:33] + "…"
        tip = f"{label}: {note}" if note else label
        out.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{esc(shown)}'
            f"<title>{esc(tip)}</title></text>"
        )
        x = float(label_w)
        for i, (name, n) in enumerate(zip(series, counts, strict=True)):
            if not n:
                continue
            w = bar_w * n / top
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{18}" '
                f'fill="{_color(name, i)}"><title>{esc(label)}: {esc(name)} {n}</title></rect>'
            )
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{sum(counts)}</text>')
        if note:
            cut = note if len(note) <= note_chars else note[: note_chars - 1] + "…"
            out.append(
                f'<text class="note" x="{label_w}" y="{y + 32}">{esc(cut)}'
                f"<title>{esc(note)}</title></text>"
            )
    out.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{_color(s, i)}"></i>{esc(SERIES.get(s, s))}</span>'
        for i, s in enumerate(series)
    )
    legend += '<span class="note">bar: messages; number: total</span>'
    return (
        f'<figure class="chart" data-chart="{esc(title)}">{"".join(out)}'
        f'<figcaption class="legend" data-legend="{esc(title)}">{legend}</figcaption></figure>'
    )


def table(
    headers: list[str],
    rows: Sequence[Sequence[object]],
    numeric: set[int] | None = None,
    figures: list[list[str | None]] | None = None,
    classes: dict[int, str] | None = None,
) -> str:
    """An HTML table; cells in ``numeric`` columns are right-aligned; ``figures`` names cells;
    ``classes`` gives a column its class (``tok``, ``text``, ``rule``: see the CSS). A cell
    that is ``Html`` goes in as is, anything else escaped; a table with such columns fills
    the page's width and scrolls on its own when it cannot."""
    numeric = numeric or set()
    classes = classes or {}

    def cls(i: int) -> str:
        names = " ".join(c for c in ("n" if i in numeric else "", classes.get(i, "")) if c)
        return f' class="{names}"' if names else ""

    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, v in enumerate(row):
            fig = figures[r][i] if figures and i < len(figures[r]) else None
            attrs = cls(i) + (f' data-figure="{esc(fig)}"' if fig else "")
            text = v if isinstance(v, Html) else breakable(v) if i in classes else esc(v)
            cells.append(f"<td{attrs}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    wide = ' class="wide"' if classes else ""
    return (
        f'<div class="scroll"><table{wide}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _card(title: str, value: object, figure: str, bad: bool = False) -> str:
    return (
        f'<div class="card{" bad" if bad else ""}"><b data-figure="{esc(figure)}">{esc(value)}</b>'
        f"{esc(title)}</div>"
    )


def _where(s: dict[str, Any]) -> str:
    return f"{s['path']}:{s['key']}" if s.get("key") is not None else str(s["path"])


def attachment_html(s: dict[str, Any]) -> Html:
    """A sample's attachment cell, never empty: the attachment that decided (and the others
    the message carried), else every name it carried (a false negative: no rule decided),
    each with its true type when the document has it (``attachment_types``)."""
    names = [str(n) for n in s.get("attachments") or []]
    types = [str(t) if t else "" for t in s.get("attachment_types") or []]
    typed = dict(zip(names, types, strict=False))

    def one(name: str) -> str:
        kind = typed.get(name)
        return name_html(name) + (f' <span class="type">({esc(kind)})</span>' if kind else "")

    decided = s.get("attachment")
    if decided:
        others = [n for n in names if n != decided]
        also = ", ".join(one(n) for n in others)
        return Html(one(str(decided)) + (f'<span class="also">with {also}</span>' if also else ""))
    if names:
        return Html('<span class="note">carried: </span>' + ", ".join(one(n) for n in names))
    return Html('<span class="note">no named attachment</span>')


def _samples(items: list[dict[str, Any]], total: int, what: str, source: dict[str, Any]) -> str:
    if not total:
        return f"<p>No {esc(what)}.</p>"
    more = f" (first {len(items)} of {total})" if len(items) < total else ""
    rows = [
        [
            _where(s),
            attachment_html(s),
            s["action"],
            rule_html(s.get("rule"), source),
            s.get("reason") or "",
        ]
        for s in items
    ]
    return f"<p>{total} {esc(what + more)}.</p>" + table(
        ["message", "attachment", "action", "rule", "reason"],
        rows,
        classes={0: "tok", 1: "tok", 3: "rule", 4: "text"},
    )


def _staged(audit: list[dict[str, Any]], source: dict[str, Any]) -> str:
    """The staged rules' section: what each would decide if it were enforced."""
    keys = [k for _, k in COLUMNS]
    out = [
        "<h2>Staged rules (mode audit)</h2>",
        "<p>These rules do not decide: every figure above is the enforced policy's. Each row "
        "counts the messages the rule matched before the deciding rule, which it would decide "
        "if it were enforced, and what that would change.</p>",
        table(
            ["rule", "action", *(h for h, _ in COLUMNS)],
            [[rule_html(a["id"], source), a["action"], *(a[k] for k in keys)] for a in audit],
            set(range(2, len(keys) + 2)),
            [[None, None, *(f"staged:{a['id']}:{k}" for k in keys)] for a in audit],
            {0: "rule"},
        ),
    ]
    for a in audit:
        fps = a["samples"]["false_positives"]
        if fps:
            out.append(f"<h3>{esc(a['id'])}: benign mail it would stop</h3>")
            shown = [{**x, "action": x["would"], "rule": a["id"]} for x in fps]
            out.append(
                _samples(shown, a["new_false_positives"], "would-be false positives", source)
            )
    return "\n".join(out)


def render(doc: dict[str, Any]) -> str:
    """The whole page for one ``simulate --json`` object."""
    labels = list(doc["labels"])
    source: dict[str, Any] = doc.get("rule_source") or {}
    actions = list(doc["actions"]) + (["unreadable"] if doc["unreadable"] else [])
    p: list[str] = []
    title = f"mailpolicy simulation: {doc['policy']}"
    p.append(f"<h1>{esc(title)}</h1>")
    p.append(
        f'<p class="sub">policy <code>{breakable(doc.get("policy_path", ""))}</code> over '
        f"{breakable(', '.join(doc['corpus']))}; {esc(doc['evaluator'])} evaluator, "
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
            [rule_note(r["id"], source) for r in hit_rows],
        )
    )
    p.append(
        table(
            ["rule", "action", "hits", "benign hits", "malicious hits"],
            [
                [
                    rule_html(r["id"], source),
                    r["action"],
                    r["hits"],
                    r["benign_hits"],
                    r["malicious_hits"],
                ]
                for r in rules
            ],
            {2, 3, 4},
            [
                [
                    None,
                    None,
                    f"rule:{r['id']}:hits",
                    f"rule:{r['id']}:benign_hits",
                    f"rule:{r['id']}:malicious_hits",
                ]
                for r in rules
            ],
            {0: "rule"},
        )
    )

    if doc.get("audit"):
        p.append(_staged(doc["audit"], source))

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
    samples = doc["samples"]
    p.append(
        _samples(samples["false_positives"], doc["false_positives"], "false positives", source)
    )
    p.append("<h2>False negatives: malicious mail delivered</h2>")
    p.append(
        _samples(samples["false_negatives"], doc["false_negatives"], "false negatives", source)
    )
    if doc["unreadable"]:
        p.append("<h2>Unreadable messages</h2>")
        items = doc["samples"]["unreadable"]
        more = f" (first {len(items)})" if len(items) < doc["unreadable"] else ""
        said = f"{doc['unreadable']} messages could not be read{more}."
        p.append(f"<p>{esc(said)}</p>")
        p.append(
            table(
                ["message", "reason"],
                [[_where(s), s["reason"]] for s in items],
                classes={0: "tok", 1: "text"},
            )
        )
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
                classes={0: "tok", 2: "text"},
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
                classes={0: "tok"},
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
