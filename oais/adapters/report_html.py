"""Evidence reports as one self-contained HTML document, with plots drawn by matplotlib.

Implements the ``ReportRenderer`` port. The document holds everything it needs: styles inline, plots
as PNG ``data:`` URIs, no script, nothing to fetch (a Content-Security-Policy says so to the browser),
so that it can be archived, mailed to an assessor and printed on A4 as it is.

Rendering is deterministic: the same report gives the same bytes. The HTML holds no time but the
report's own, and plots are drawn with explicit sizes, colours and fonts (never the user's matplotlib
style), at a fixed DPI, into PNGs without a ``Software`` chunk. Plots are drawn on a
:class:`matplotlib.figure.Figure` with the Agg canvas, never through ``pyplot``: no global figure
registry, so renderers may run in several threads at once.

matplotlib is imported on the first plot, not when this module is imported (the command line loads
this module for every command).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from oais.domain.reports import Figure, Finding, Level, Period, Plot, Report, Scalar, Section, Table

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import XAxis, YAxis
    from matplotlib.figure import Figure as MplFigure

#: Pixels per inch of every plot; with the sizes below it fixes each PNG's size in pixels.
DPI = 100
#: Width of every plot, in pixels (the A4 text width at 96 CSS px per inch is about 680 px: the
#: browser scales it down for print).
PLOT_WIDTH = 800
#: Height of a line, bar or stacked plot, in pixels.
PLOT_HEIGHT = 400
#: Size of the image that stands for a plot without data, in pixels.
EMPTY_PLOT_SIZE = (PLOT_WIDTH, 120)
#: Most x labels written under a line plot (the others are thinned out).
MAX_X_TICKS = 14
#: Longest category label drawn in a plot, beside horizontal bars and (slanted) under other plots;
#: the tables and figures around the plot have the full text.
MAX_LABEL = 40
MAX_SLANTED_LABEL = 24

# Okabe & Ito's palette: told apart by people with any common colour-vision deficiency. Series also
# differ by marker (lines) or hatch (bars), so that colour is never the only difference.
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "--", "oo")
_FONT = "DejaVu Sans"  # ships with matplotlib, so the same on every machine

_SHA256 = re.compile(r"[0-9a-f]{64}")
_BYTES = re.compile(r"\bbytes\b", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LEVEL_LABEL = {Level.OK: "OK", Level.WARNING: "Warning", Level.PROBLEM: "Problem"}
_LEVEL_MARK = {Level.OK: "✓", Level.WARNING: "!", Level.PROBLEM: "✗"}
_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_TRUNCATED_NOTE = "{n} more rows not shown; the JSON and the figures count every row."


class HtmlReportRenderer:
    """Implements the ``ReportRenderer`` port: one self-contained HTML5 document per report."""

    def render(self, report: Report, json_digest: str) -> bytes:
        """The report as one self-contained HTML document (UTF-8).

        Args:
            report: the report.
            json_digest: the sha256 (hex) of the report's JSON, as ``oais.domain.reports.digest``
                computes it from ``canonical_json``.

        Returns:
            The document's bytes; the same report and digest always give the same bytes.

        Raises:
            ValueError: ``json_digest`` is not a sha256 in hex, two sections share a key, or a plot's
                series does not have one value per x.
        """
        if not _SHA256.fullmatch(json_digest):
            raise ValueError(f"not a sha256 in lowercase hex: {json_digest!r}")
        keys = [section.key for section in report.sections]
        clashes = sorted({key for key in keys if keys.count(key) > 1})
        if clashes:
            raise ValueError(f"sections share a key (an HTML anchor): {', '.join(clashes)}")
        return _document(report, json_digest).encode("utf-8")


# --- The document --------------------------------------------------------------------------------


def _document(report: Report, json_digest: str) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # No script, no fetch: only inline styles and data: images, whatever a string in the report holds.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{_esc(report.software)}">',
        f"<title>{_esc(report.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(report, json_digest),
        _contents(report.sections),
        "<main>",
        *(_section(section) for section in report.sections),
        "</main>",
        "<footer>",
        f"<p>{_esc(report.title)} · {_esc(report.archive)} · generated {_esc(_utc(report.generated))} "
        f"by {_esc(report.software)} · sha256 of report.json: <code>{json_digest}</code></p>",
        "</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _header(report: Report, json_digest: str) -> str:
    generated = report.generated if report.generated.tzinfo else report.generated.replace(tzinfo=UTC)
    meta = [
        ("Archive", _esc(report.archive)),
        ("Period", _esc(period_text(report.period))),
        (
            "Generated",
            f'<time datetime="{generated.astimezone(UTC).isoformat()}">{_esc(_utc(report.generated))}</time>',
        ),
        ("Software", _esc(report.software)),
        ("Report", _esc(report.kind)),
        ("Findings", _esc(_finding_counts(f for s in report.sections for f in s.findings)) or "none"),
    ]
    rows = "".join(f'<tr><th scope="row">{label}</th><td>{value}</td></tr>' for label, value in meta)
    out = [
        "<header>",
        f"<h1>{_esc(report.title)}</h1>",
        f'<table class="meta">{rows}</table>',
        '<div class="digest">',
        f'<p>sha256 of report.json: <code class="sha256">{json_digest}</code></p>',
        "<p>To check that this document describes the report.json beside it, run "
        "<code>sha256sum report.json</code> and compare the result with the line above, or run "
        "<code>oais report verify DIR</code> on the folder that holds both files.</p>",
        "</div>",
        '<h2 id="policies">Policies in force</h2>',
    ]
    if report.policies:
        out.append(
            '<table class="policies"><thead><tr><th scope="col">Policy</th><th scope="col">Title</th>'
            '<th scope="col">sha256 of the policy file</th></tr></thead><tbody>'
        )
        out.extend(
            f"<tr><td><code>{_esc(p.id)}@{_esc(p.version)}</code></td><td>{_esc(p.title)}</td>"
            f'<td><code class="sha256">{_esc(p.sha256)}</code></td></tr>'
            for p in report.policies
        )
        out.append("</tbody></table>")
    else:
        out.append("<p>No policy is recorded for this report.</p>")
    out.append("</header>")
    return "\n".join(out)


def _contents(sections: Sequence[Section]) -> str:
    items = []
    for section in sections:
        counts = _finding_counts(f for f in section.findings if f.level is not Level.OK)
        extra = f' <span class="toc-findings">({_esc(counts)})</span>' if counts else ""
        items.append(
            f'<li><a href="#{_esc(section.key)}">{_esc(section.key)} {_esc(section.title)}</a>{extra}</li>'
        )
    return (
        '<nav class="toc" aria-labelledby="toc-title"><h2 id="toc-title">Contents</h2>'
        f"<ol>{''.join(items)}</ol></nav>"
    )


def _section(section: Section) -> str:
    out = [
        f'<section id="{_esc(section.key)}">',
        f"<h2>{_esc(section.key)} {_esc(section.title)}</h2>",
        f'<p class="summary">{_esc(section.summary)}</p>',
    ]
    if section.findings:
        out.append(_findings(section.findings))
    if section.figures:
        out.append(_figures(section.figures))
    out.extend(_table(table) for table in section.tables)
    out.extend(_plot_block(plot) for plot in section.plots)
    out.append("</section>")
    return "\n".join(out)


def _findings(findings: Sequence[Finding]) -> str:
    items = "".join(
        f'<li class="finding {f.level.value}"><span class="level">'
        f'<span aria-hidden="true">{_LEVEL_MARK[f.level]} </span>{_LEVEL_LABEL[f.level]}</span> '
        f"{_esc(f.text)}</li>"
        for f in findings
    )
    return f'<h3>Findings</h3><ul class="findings">{items}</ul>'


def _figures(figures: Sequence[Figure]) -> str:
    rows = "".join(
        f'<tr data-key="{_esc(f.key)}"><th scope="row">{_esc(f.label)}</th>'
        f'<td class="value">{_figure_value(f)}</td><td class="unit">{_esc(f.unit or "")}</td></tr>'
        for f in figures
    )
    return (
        '<h3>Figures</h3><table class="figures"><thead><tr><th scope="col">Figure</th>'
        f'<th scope="col">Value</th><th scope="col">Unit</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _figure_value(figure: Figure) -> str:
    text = _esc(format_scalar(figure.value))
    if (
        figure.unit == "bytes"
        and isinstance(figure.value, int | float)
        and not isinstance(figure.value, bool)
    ):
        human = human_bytes(figure.value)
        if human:
            text += f' <span class="human">({_esc(human)})</span>'
    return text


def _table(table: Table) -> str:
    head = "".join(f'<th scope="col">{_esc(c)}</th>' for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_esc(format_scalar(v))}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{_esc(format_scalar(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in table.rows
    )
    if not table.rows:
        body = f'<tr><td class="empty" colspan="{max(len(table.columns), 1)}">No rows.</td></tr>'
    out = [
        f'<div class="table" data-key="{_esc(table.key)}"><table class="data">'
        f"<caption>{_esc(table.title)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    ]
    if table.truncated:
        out.append(
            f'<p class="truncated">{_esc(_TRUNCATED_NOTE.format(n=format_scalar(table.truncated)))}</p>'
        )
    if table.note:
        out.append(f'<p class="note">{_esc(table.note)}</p>')
    out.append("</div>")
    return "".join(out)


def _plot_block(plot: Plot) -> str:
    png = plot_png(plot)
    width, height = plot_size(plot)
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        f'<figure class="plot" data-key="{_esc(plot.key)}">'
        f'<img src="{src}" alt="{_esc(plot.title)}" width="{width}" height="{height}">'
        f"<figcaption>{_esc(plot.title)}</figcaption></figure>"
    )


# --- Words and numbers ---------------------------------------------------------------------------


def period_text(period: Period) -> str:
    """The period a report covers, in words.

    Args:
        period: the period (both days included; None is an open end).

    Returns:
        ``"from 2024-01-01 to 2024-12-31"``, ``"all records"``, or a phrase with one open end.
    """
    if period.start is None and period.end is None:
        return "all records"
    if period.start is None:
        return f"from the first record to {period.end}"
    if period.end is None:
        return f"from {period.start} to the time of the report"
    return f"from {period.start} to {period.end}"


def format_scalar(value: Scalar) -> str:
    """A figure or table cell for people: thousands separators, yes/no, a dash for nothing.

    Args:
        value: the value.

    Returns:
        The text (``1,234,567``, ``99.5``, ``yes``, ``—``).
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _format_float(value)
    return value


def human_bytes(size: float) -> str | None:
    """A byte count in binary units, or None below one KiB (where the count says it all).

    Args:
        size: a number of bytes.

    Returns:
        ``"1.5 GiB"`` and the like.
    """
    if not math.isfinite(size):
        return None
    value = abs(float(size))
    if value < 1024:
        return None
    index = -1
    while value >= 1024 and index < len(_BINARY_UNITS) - 1:
        value /= 1024
        index += 1
    unit = _BINARY_UNITS[index]
    sign = "-" if size < 0 else ""
    return f"{sign}{value:,.1f} {unit}" if value < 100 else f"{sign}{value:,.0f} {unit}"


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _tick(value: float, _pos: int | None = None) -> str:
    # Axis ticks: thousands separators, no needless decimals, millions and more in short.
    if value == 0:
        return "0"
    for scale, name in ((1e12, "tn"), (1e9, "bn"), (1e6, "M")):
        if abs(value) >= scale:
            return f"{_format_float(value / scale)} {name}"
    return _format_float(value)


def _finding_counts(findings: Iterable[Finding]) -> str:
    counts = {level: 0 for level in Level}
    for finding in findings:
        counts[finding.level] += 1
    words = {Level.PROBLEM: "problem", Level.WARNING: "warning", Level.OK: "ok"}
    parts = []
    for level in (Level.PROBLEM, Level.WARNING, Level.OK):
        n = counts[level]
        if n:
            plural = "s" if n != 1 and level is not Level.OK else ""
            parts.append(f"{n:,} {words[level]}{plural}")
    return ", ".join(parts)


def _utc(when: datetime) -> str:
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _esc(text: str) -> str:
    # C0 controls are not allowed in HTML text: show them as replacement characters.
    return html.escape(_CONTROL.sub("\ufffd", text), quote=True)


# --- Plots ---------------------------------------------------------------------------------------


def plot_size(plot: Plot) -> tuple[int, int]:
    """The size in pixels of the PNG :func:`plot_png` draws for ``plot``.

    Args:
        plot: the plot.

    Returns:
        ``(width, height)``: horizontal bar plots grow with their number of categories, and the
        legend of many series adds rows.
    """
    if not _has_data(plot):
        return EMPTY_PLOT_SIZE
    legend_rows = math.ceil(len(plot.series) / 4) if len(plot.series) > 1 else 0
    if plot.kind == "barh":
        per_category = 0.28 * max(1, len(plot.series)) ** 0.5
        inches = 1.6 + per_category * len(plot.x) + 0.25 * legend_rows
        return PLOT_WIDTH, max(200, round(inches * DPI))
    return PLOT_WIDTH, PLOT_HEIGHT + 25 * legend_rows


def plot_png(plot: Plot) -> bytes:
    """Draw a plot as PNG bytes (the same plot always gives the same bytes).

    Args:
        plot: the plot; each series has one value per x. ``x_label`` names the categories and
            ``y_label`` the values, whichever way the bars lie (a ``barh`` plot draws its categories
            down the side). Values are drawn in binary units (KiB, MiB...) when ``y_label`` says
            "bytes". Missing or infinite values are gaps. A plot without x or series is drawn as
            a small image saying there is no data in this period.

    Returns:
        The PNG, of the size :func:`plot_size` gives.

    Raises:
        ValueError: a series does not have one value per x.
    """
    for series in plot.series:
        if len(series.values) != len(plot.x):
            raise ValueError(
                f"plot {plot.key!r}: series {series.label!r} has {len(series.values)} values "
                f"for {len(plot.x)} x categories"
            )
    mpl = _matplotlib()
    width, height = plot_size(plot)
    fig = mpl.Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained", facecolor="white")
    mpl.FigureCanvasAgg(fig)
    if not _has_data(plot):
        fig.set_layout_engine("none")
        fig.text(
            0.5,
            0.5,
            _mpl_text(f"{plot.title}: no data in this period"),
            ha="center",
            va="center",
            fontsize=11,
            color="#444444",
            fontfamily=_FONT,
        )
    else:
        ax = fig.add_subplot()
        _draw(ax, plot, mpl)
        if len(plot.series) > 1:
            fig.legend(
                loc="outside lower center",
                ncols=min(4, len(plot.series)),
                frameon=False,
                prop={"family": _FONT, "size": 9},
            )
    buffer = io.BytesIO()
    # No Software chunk (it names the matplotlib version) and no time: the same plot, the same bytes.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _has_data(plot: Plot) -> bool:
    return bool(plot.x) and bool(plot.series)


def _draw(ax: Axes, plot: Plot, mpl: _Matplotlib) -> None:
    n = len(plot.x)
    positions = list(range(n))
    labels = [_mpl_text(_shorten(x, MAX_LABEL if plot.kind == "barh" else MAX_SLANTED_LABEL)) for x in plot.x]
    values = [[_finite(v) for v in s.values] for s in plot.series]
    names = [_mpl_text(_shorten(s.label, MAX_LABEL)) for s in plot.series]
    k = len(plot.series)
    value_axis = ax.xaxis if plot.kind == "barh" else ax.yaxis
    in_bytes = _BYTES.search(plot.y_label) is not None

    if plot.kind == "line":
        for i, ys in enumerate(values):
            ax.plot(
                positions,
                ys,
                label=names[i],
                color=_COLOURS[i % len(_COLOURS)],
                marker=_MARKERS[i % len(_MARKERS)] if n <= 60 else None,
                markersize=4,
                linewidth=1.6,
            )
        step = max(1, math.ceil(n / MAX_X_TICKS))
        shown = positions[::step]
        ax.set_xticks(shown, [labels[i] for i in shown], rotation=45, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.5, n - 0.5)
    elif plot.kind in ("bar", "stacked"):
        width = 0.8 if plot.kind == "stacked" else 0.8 / k
        bottom = [0.0] * n
        for i, ys in enumerate(values):
            if plot.kind == "stacked":
                heights = [0.0 if math.isnan(y) else y for y in ys]
                xs = [float(p) for p in positions]
            else:
                heights = ys
                xs = [p - 0.4 + width * (i + 0.5) for p in positions]
            ax.bar(
                xs,
                heights,
                width=width,
                bottom=bottom if plot.kind == "stacked" else None,
                label=names[i],
                color=_COLOURS[i % len(_COLOURS)],
                hatch=_HATCHES[i % len(_HATCHES)] if k > 1 else None,
                edgecolor="white",
                linewidth=0.5,
            )
            if plot.kind == "stacked":
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        step = max(1, math.ceil(n / 30))
        shown = positions[::step]
        rotate = n > 6 or max(len(label) for label in labels) > 12
        ax.set_xticks(
            shown,
            [labels[i] for i in shown],
            rotation=45 if rotate else 0,
            ha="right" if rotate else "center",
            rotation_mode="anchor",
        )
        ax.set_xlim(-0.5, n - 0.5)
    else:  # barh
        height = 0.8 / k
        for i, ys in enumerate(values):
            bars = ax.barh(
                [p - 0.4 + height * (i + 0.5) for p in positions],
                ys,
                height=height,
                label=names[i],
                color=_COLOURS[i % len(_COLOURS)],
                hatch=_HATCHES[i % len(_HATCHES)] if k > 1 else None,
                edgecolor="white",
                linewidth=0.5,
            )
            # Values at the bar ends: the long tail of small counts is otherwise invisible.
            ax.bar_label(
                bars,
                labels=["" if math.isnan(y) else _value_text(y, in_bytes) for y in ys],
                padding=3,
                fontsize=7,
                fontfamily=_FONT,
            )
        ax.margins(x=0.12)
        ax.set_yticks(positions, labels)
        ax.set_ylim(n - 0.5, -0.5)  # the first category on top, as in the table

    if in_bytes:
        _bytes_ticks(ax, value_axis, mpl)
    else:
        value_axis.set_major_formatter(mpl.FuncFormatter(_tick))
    ax.set_title(_mpl_text(plot.title), fontsize=12, fontfamily=_FONT, loc="left")
    # x_label names the categories and y_label the values, whichever way the bars lie.
    category_axis, value_title = (ax.yaxis, ax.xaxis) if plot.kind == "barh" else (ax.xaxis, ax.yaxis)
    category_axis.set_label_text(_mpl_text(plot.x_label), fontsize=10, fontfamily=_FONT)
    value_title.set_label_text(_mpl_text(plot.y_label), fontsize=10, fontfamily=_FONT)
    ax.tick_params(labelsize=8)
    for text in (*ax.get_xticklabels(), *ax.get_yticklabels()):
        text.set_fontfamily(_FONT)
    ax.grid(axis="x" if plot.kind == "barh" else "y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _bytes_ticks(ax: Axes, axis: XAxis | YAxis, mpl: _Matplotlib) -> None:
    # Ticks at round numbers of the binary unit that fits the largest value (0, 2 TiB, 4 TiB...).
    low, high = ax.get_xlim() if axis is ax.xaxis else ax.get_ylim()
    top = max(abs(low), abs(high))
    if not math.isfinite(top) or top < 1024:
        axis.set_major_formatter(mpl.FuncFormatter(_tick))
        return
    power = 0
    while top >= 1024 ** (power + 1) and power < len(_BINARY_UNITS):
        power += 1
    unit, name = 1024**power, _BINARY_UNITS[power - 1]
    rough = top / unit / 6
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)
    axis.set_major_locator(mpl.MultipleLocator(step * unit))
    axis.set_major_formatter(
        mpl.FuncFormatter(lambda v, _pos: "0" if v == 0 else f"{_tick(v / unit)} {name}")
    )


def _value_text(value: float, in_bytes: bool) -> str:
    return (human_bytes(value) or f"{_format_float(value)} bytes") if in_bytes else _format_float(value)


def _finite(value: float) -> float:
    # Infinity cannot be drawn (axis limits): drawn as a gap, like a missing value.
    return value if math.isfinite(value) else math.nan


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mpl_text(text: str) -> str:
    # matplotlib reads "$...$" as mathematical notation: escape every dollar. A character the bundled
    # font lacks would be drawn with whatever font the machine has (or warn): drawn as "?" instead; the
    # HTML around the plot has the exact text.
    glyphs = _glyphs()
    out = [c if ord(c) in glyphs else "?" for c in _CONTROL.sub("?", text)]
    return "".join(out).replace("$", r"\$")


@functools.cache
def _glyphs() -> frozenset[int]:
    from matplotlib import get_data_path
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(Path(get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")))
    return frozenset(font.get_charmap()) | {ord(" ")}


class _Matplotlib:
    """The few matplotlib names used here, imported on first use."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure as MplFigureClass
        from matplotlib.ticker import FuncFormatter, MultipleLocator

        self.Figure: type[MplFigure] = MplFigureClass
        self.FigureCanvasAgg = FigureCanvasAgg
        self.FuncFormatter = FuncFormatter
        self.MultipleLocator = MultipleLocator


_lock = threading.Lock()


@functools.cache
def _matplotlib() -> _Matplotlib:
    with _lock:
        _prepare_config_dir()
        return _Matplotlib()


def _prepare_config_dir() -> None:
    """Give matplotlib a writable configuration and cache folder before it is imported.

    matplotlib keeps its font cache under ``~/.config`` and ``~/.cache`` (or ``$MPLCONFIGDIR``). Where
    home is read-only (a systemd unit with ``ProtectHome``), it would make a temporary folder and log a
    warning on every run: choose that temporary folder here, quietly. Set ``MPLCONFIGDIR`` to keep the
    font cache between runs.
    """
    if os.environ.get("MPLCONFIGDIR") or "matplotlib" in sys.modules:
        return
    home = Path.home()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "matplotlib"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "matplotlib"
    if all(_writable(folder) for folder in (config, cache)):
        return
    os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="oais-matplotlib-")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; font-size: 15px;
  line-height: 1.45; color: #1a1a1a; background: #ffffff; max-width: 64rem; margin: 0 auto;
  padding: 1.5rem; }
h1 { font-size: 1.7rem; margin: 0 0 0.8rem; }
h2 { font-size: 1.3rem; margin: 1.6rem 0 0.6rem; border-bottom: 2px solid #0072B2; padding-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin: 1.1rem 0 0.4rem; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 0.9em; }
code.sha256 { overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.4rem 0 0.8rem; }
th, td { border: 1px solid #c8c8c8; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
thead th { background: #eef3f8; }
caption { text-align: left; font-weight: bold; padding: 0.3rem 0; }
td.num, td.value { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.empty { color: #555555; font-style: italic; }
.human { color: #444444; }
table.meta th { background: #f4f4f4; width: 9rem; }
table.meta, table.policies { width: 100%; }
.digest { border: 2px solid #1a1a1a; padding: 0.5rem 0.8rem; margin: 1rem 0; background: #fafafa; }
.digest p { margin: 0.3rem 0; }
.digest p:first-child { font-size: 1.05rem; font-weight: bold; }
nav.toc ol { padding-left: 1.5rem; }
nav.toc a { color: #005a8c; }
.toc-findings { color: #444444; font-size: 0.9em; }
section { margin-top: 2rem; }
.summary { font-style: italic; }
ul.findings { list-style: none; padding: 0; }
.finding { border-left: 6px solid; padding: 0.35rem 0.6rem; margin: 0.3rem 0; }
.finding .level { font-weight: bold; display: inline-block; min-width: 6.5rem; }
.finding.ok { border-color: #1b7a3a; background: #eaf6ee; }
.finding.warning { border-color: #b36b00; background: #fff4e0; }
.finding.problem { border-color: #b00020; background: #fde8eb; }
div.table { overflow-x: auto; }
.truncated, .note { font-size: 0.9em; color: #444444; margin-top: -0.4rem; }
figure.plot { margin: 0.8rem 0 1.2rem; }
figure.plot img { display: block; max-width: 100%; height: auto; border: 1px solid #e2e2e2; }
figcaption { font-size: 0.9em; color: #444444; margin-top: 0.3rem; }
footer { margin-top: 3rem; border-top: 1px solid #c8c8c8; font-size: 0.85em; color: #444444; }
@page { size: A4; margin: 15mm 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
  h2, h3, caption { break-after: avoid; }
  section { break-before: page; }
  figure.plot, tr, .finding, .digest { break-inside: avoid; }
  thead { display: table-header-group; }
  div.table { overflow: visible; }
}
"""
