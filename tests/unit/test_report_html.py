"""The HTML evidence report: what an assessor reads, checks and prints, and the plots in it."""

from __future__ import annotations

import base64
import io
import math
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import lxml.html
import pytest
from PIL import Image

from oais.adapters.report_html import (
    EMPTY_PLOT_SIZE,
    PLOT_WIDTH,
    HtmlReportRenderer,
    format_scalar,
    human_bytes,
    period_text,
    plot_png,
    plot_size,
)
from oais.domain.ports import ReportRenderer
from oais.domain.reports import Period, Plot, Report, Section, Series, canonical_json, digest
from tests.support.report_samples import HOSTILE, sample_report

REPORT = sample_report()
DIGEST = digest(canonical_json(REPORT))


@pytest.fixture(scope="module")
def rendered() -> bytes:
    renderer: ReportRenderer = HtmlReportRenderer()
    return renderer.render(REPORT, DIGEST)


@pytest.fixture(scope="module")
def doc(rendered: bytes) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(rendered)


def _text(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def _png(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
    image.load()
    return image


def _colours(image: Image.Image) -> int:
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    return len(colours)


def test_the_document_is_self_contained_html5_without_script(
    rendered: bytes, doc: lxml.html.HtmlElement
) -> None:
    assert rendered.startswith(b"<!DOCTYPE html>")
    rendered.decode("utf-8")
    assert doc.xpath("//script") == []
    assert not doc.xpath("//@*[starts-with(name(), 'on')]")  # no event handlers
    assert doc.xpath("//link") == []  # no external stylesheet
    for src in doc.xpath("//@src | //@href"):
        assert src.startswith(("data:image/png;base64,", "#")), src
    assert doc.xpath("//style") and "@media print" in doc.xpath("string(//style)")
    assert "size: A4" in doc.xpath("string(//style)")
    csp = doc.xpath("string(//meta[@http-equiv='Content-Security-Policy']/@content)")
    assert "default-src 'none'" in csp


def test_the_header_states_the_digest_and_how_to_check_it(doc: lxml.html.HtmlElement) -> None:
    (digest_box,) = doc.xpath("//header/div[@class='digest']")
    assert _text(digest_box.xpath("p[1]")[0]) == f"sha256 of report.json: {DIGEST}"
    how = _text(digest_box.xpath("p[2]")[0])
    assert "sha256sum report.json" in how and "oais report verify DIR" in how
    meta = {
        _text(tr.xpath("th")[0]): _text(tr.xpath("td")[0]) for tr in doc.xpath("//table[@class='meta']//tr")
    }
    assert meta == {
        "Archive": "Test archive (postgresql://catalog, s3://aips)",
        "Period": "from 2024-01-01 to 2024-12-31",
        "Generated": "2025-01-15 09:30:05 UTC",
        "Software": "oais 0.7.0",
        "Report": "cts",
        "Findings": "1 problem, 2 warnings, 2 ok",
    }
    policies = [
        [_text(td) for td in tr.xpath("td")] for tr in doc.xpath("//table[@class='policies']/tbody/tr")
    ]
    assert policies == [
        ["audit@3", "Fixity audit policy", "a" * 64],
        ["storage@1.2", "Copies and locations", "b" * 64],
    ]


def test_every_section_has_an_anchor_that_the_contents_link_to(doc: lxml.html.HtmlElement) -> None:
    keys = [s.key for s in REPORT.sections]
    assert doc.xpath("//main/section/@id") == keys
    assert doc.xpath("//nav//a/@href") == [f"#{key}" for key in keys]
    for section in REPORT.sections:
        (element,) = doc.xpath(f"//section[@id='{section.key}']")
        assert _text(element.xpath("h2")[0]) == f"{section.key} {section.title}"
        assert _text(element.xpath("p[@class='summary']")[0]) == section.summary
    assert "(1 problem, 1 warning)" in _text(doc.xpath("//nav//li")[0])


def test_text_from_the_records_is_escaped(rendered: bytes, doc: lxml.html.HtmlElement) -> None:
    assert b"<script>" not in rendered
    assert doc.xpath("string(//title)") == REPORT.title
    assert _text(doc.xpath("//h1")[0]) == REPORT.title
    assert _text(doc.xpath("//section[@id='R08']/h2")[0]) == f"R08 Appraisal {HOSTILE}"
    cells = [_text(td) for td in doc.xpath("//section[@id='R08']//table[@class='data']//td")]
    assert HOSTILE in cells


def test_findings_carry_a_text_label_not_only_a_colour(doc: lxml.html.HtmlElement) -> None:
    items = doc.xpath("//section[@id='R07']//ul[@class='findings']/li")
    assert [li.get("class") for li in items] == ["finding ok", "finding warning", "finding problem"]
    assert [_text(li.xpath("span[@class='level']")[0]) for li in items] == ["✓ OK", "! Warning", "✗ Problem"]
    assert _text(items[2]).endswith("1 fixity failure is not yet repaired.")


def test_figures_show_thousands_separators_and_bytes_in_binary_units(doc: lxml.html.HtmlElement) -> None:
    rows = {
        _text(tr.xpath("th")[0]): (_text(tr.xpath("td")[0]), _text(tr.xpath("td")[1]))
        for tr in doc.xpath("//section[@id='R07']//table[@class='figures']/tbody/tr")
    }
    assert rows["AIPs"] == ("1,234,567", "AIPs")
    assert rows["Bytes stored"] == ("5,497,558,139,003 (5.0 TiB)", "bytes")
    assert rows["Every copy verified"] == ("yes", "")
    assert rows["Audit coverage"] == ("99.25", "%")
    assert rows["Last fixity failure"] == ("—", "")


def test_a_cut_table_says_how_many_rows_are_left_out(doc: lxml.html.HtmlElement) -> None:
    (table,) = doc.xpath("//section[@id='R08']//div[@class='table']")
    assert _text(table.xpath("table/caption")[0]) == "AIPs by producer"
    assert [_text(th) for th in table.xpath(".//thead//th")] == ["producer", "AIPs", "bytes", "restricted"]
    first = [_text(td) for td in table.xpath(".//tbody/tr[1]/td")]
    assert first == ["Observatory A", "120,000", "98,765,432,109", "no"]
    assert [_text(td) for td in table.xpath(".//tbody/tr[3]/td")] == ["Unknown", "0", "0.5", "—"]
    note = _text(table.xpath("p[@class='truncated']")[0])
    assert note == "1,500 more rows not shown; the JSON and the figures count every row."
    assert _text(table.xpath("p[@class='note']")[0]) == "Producers as the SIPs name them."


def test_every_plot_is_an_embedded_png_of_the_stated_size(doc: lxml.html.HtmlElement) -> None:
    plots = [(s.key, p) for s in REPORT.sections for p in s.plots]
    images = doc.xpath("//section//figure[@class='plot']/img")
    assert len(images) == len(plots) == 5
    for (key, plot), img in zip(plots, images, strict=True):
        assert img.getparent().getparent().get("id") == key
        assert img.get("alt") == plot.title
        png = _png(img.get("src"))
        assert png.format == "PNG"
        assert png.size == plot_size(plot) == (int(img.get("width")), int(img.get("height")))
        if plot.x:
            assert png.size[0] == PLOT_WIDTH
            assert _colours(png) > 50, f"{plot.key} looks blank"
        else:
            assert png.size == EMPTY_PLOT_SIZE
            assert _colours(png) > 1  # the words "no data in this period"
    # A horizontal bar plot grows with its categories, so that long format names stay readable.
    barh = next(p for _, p in plots if p.kind == "barh")
    assert plot_size(barh)[1] > plot_size(barh.model_copy(update={"x": barh.x[:2]}))[1]


def test_plots_use_the_series_colours(doc: lxml.html.HtmlElement) -> None:
    (bar,) = doc.xpath("//figure[@data-key='ingest_by_month']/img")
    rgb = _png(bar.get("src")).convert("RGB")
    pixels = {colour for _, colour in rgb.getcolors(maxcolors=1 << 20) or []}
    for colour in ((0x00, 0x72, 0xB2), (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73)):  # three series
        assert colour in pixels


def test_the_same_report_renders_to_the_same_bytes(rendered: bytes) -> None:
    again = HtmlReportRenderer().render(sample_report(), DIGEST)
    assert again == rendered
    # No chunk names the software version or the time a PNG was drawn.
    png = plot_png(REPORT.sections[2].plots[0])
    assert b"Software" not in png and b"matplotlib" not in png.lower() and b"tIME" not in png


def test_a_plot_without_data_says_so_rather_than_failing() -> None:
    for kind in ("line", "bar", "stacked", "barh"):
        plot = Plot(key="p", title="Nothing", kind=kind, x_label="x", y_label="y", x=["a"], series=[])
        image = Image.open(io.BytesIO(plot_png(plot)))
        assert image.size == EMPTY_PLOT_SIZE


def test_awkward_values_and_labels_draw_without_warnings() -> None:
    # Warnings are errors here: missing glyphs, "$" read as mathematics, infinite axis limits, a
    # crowded legend or long labels that the layout cannot fit would all fail.
    awkward = [
        Plot(
            key="money",
            title="Costs in $ and $$ (€, 東京, emoji 📦)",
            kind=kind,
            x_label="format $x$",
            y_label="bytes",
            x=[f"category {i} " + "very long name " * 5 for i in range(12)],
            series=[
                Series(label=f"series {j} $", values=[math.nan if i % 9 == 0 else i * 1e9 for i in range(12)])
                for j in range(6)
            ],
        )
        for kind in ("line", "bar", "stacked", "barh")
    ]
    awkward.append(
        Plot(
            key="odd",
            title="One point, infinite and missing values",
            kind="line",
            x_label="day",
            y_label="copies",
            x=["2024-01-01", "2024-01-02", "2024-01-03"],
            series=[Series(label="a", values=[math.inf, math.nan, -math.inf])],
        )
    )
    awkward.append(
        Plot(
            key="one",
            title="One day",
            kind="line",
            x_label="day",
            y_label="copies",
            x=["2024-01-01"],
            series=[Series(label="a", values=[-3.5])],
        )
    )
    for plot in awkward:
        image = Image.open(io.BytesIO(plot_png(plot)))
        assert image.size == plot_size(plot)
        assert _colours(image) > 5


def test_a_series_of_the_wrong_length_is_refused() -> None:
    plot = Plot(
        key="bad",
        title="Bad",
        kind="bar",
        x_label="x",
        y_label="y",
        x=["a", "b"],
        series=[Series(label="s", values=[1])],
    )
    with pytest.raises(ValueError, match=r"'bad'.*1 values for 2 x"):
        plot_png(plot)


def test_a_wrong_digest_or_clashing_anchors_are_refused() -> None:
    with pytest.raises(ValueError, match="sha256"):
        HtmlReportRenderer().render(REPORT, "not-a-digest")
    twice = REPORT.model_copy(
        update={"sections": [*REPORT.sections, Section(key="R07", title="again", summary="")]}
    )
    with pytest.raises(ValueError, match="R07"):
        HtmlReportRenderer().render(twice, DIGEST)


@pytest.mark.parametrize(
    ("period", "text"),
    [
        (Period(), "all records"),
        (Period(start=date(2024, 1, 1)), "from 2024-01-01 to the time of the report"),
        (Period(end=date(2024, 6, 30)), "from the first record to 2024-06-30"),
        (Period(start=date(2024, 1, 1), end=date(2024, 6, 30)), "from 2024-01-01 to 2024-06-30"),
    ],
)
def test_the_period_in_words(period: Period, text: str) -> None:
    assert period_text(period) == text
    report = REPORT.model_copy(update={"period": period, "sections": []})
    assert text in HtmlReportRenderer().render(report, DIGEST).decode()


def test_numbers_for_people() -> None:
    assert format_scalar(1234567) == "1,234,567"
    assert format_scalar(-1234.5) == "-1,234.5"
    assert format_scalar(2.0) == "2"
    assert format_scalar(0.000123) == "0.000123"
    assert format_scalar(False) == "no"
    assert format_scalar(None) == "—"
    assert format_scalar("text") == "text"
    assert human_bytes(1023) is None
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**3) == "3.0 GiB"
    assert human_bytes(512 * 1024**4) == "512 TiB"


def test_a_naive_generation_time_is_read_as_utc() -> None:
    report: Report = REPORT.model_copy(update={"generated": datetime(2025, 2, 1, 8, 0), "sections": []})
    page = lxml.html.document_fromstring(HtmlReportRenderer().render(report, DIGEST))
    assert page.xpath("string(//header//time/@datetime)") == "2025-02-01T08:00:00+00:00"
    header = page.find("body/header")
    assert header is not None
    assert "Generated2025-02-01 08:00:00 UTC" in _text(header)


def test_plots_draw_quietly_where_home_is_read_only(tmp_path: Path) -> None:
    # A systemd unit with ProtectHome: matplotlib must neither fail nor print a warning about its
    # font cache (a fresh interpreter, since matplotlib reads its folder once, when imported).
    script = (
        "import os\n"
        "from oais.adapters.report_html import plot_png\n"
        "from oais.domain.reports import Plot, Series\n"
        "plot = Plot(key='p', title='t', kind='bar', x_label='x', y_label='y', x=['a'],"
        " series=[Series(label='s', values=[1])])\n"
        "assert plot_png(plot).startswith(b'\\x89PNG')\n"
        "print(os.environ['MPLCONFIGDIR'])\n"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in {"MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"}
    }
    env["HOME"] = "/proc/no-home"  # cannot be created, even by root
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert Path(done.stdout.strip()).parent == tmp_path
