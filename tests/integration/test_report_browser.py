"""The HTML evidence report as Chromium shows it: every section drawn, every plot decoded and visible."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from oais.adapters.report_html import HtmlReportRenderer
from oais.domain.reports import canonical_json, digest
from tests.support.browser import A4_TEXT_WIDTH, assert_plots_rendered, screenshot_sections
from tests.support.report_samples import sample_report


def _write_report(folder: Path) -> Path:
    report = sample_report()
    data = canonical_json(report)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_bytes(data)
    html = folder / "report.html"
    html.write_bytes(HtmlReportRenderer().render(report, digest(data)))
    return html


def test_chromium_draws_every_section_and_every_plot(tmp_path: Path) -> None:
    report = sample_report()
    html = _write_report(tmp_path / "report")

    shots = screenshot_sections(html, tmp_path / "screen")

    assert list(shots) == [section.key for section in report.sections]
    for section in report.sections:
        shot = shots[section.key]
        with Image.open(shot.png) as png:
            assert png.width > 400 and png.height > 100, f"section {section.key} is {png.size}"
        assert [image.alt for image in shot.images] == [plot.title for plot in section.plots]
        if section.plots:
            assert_plots_rendered(shot)


def test_printed_on_a4_the_plots_are_scaled_to_the_page_not_cut(tmp_path: Path) -> None:
    html = _write_report(tmp_path / "report")

    shots = screenshot_sections(html, tmp_path / "print", media="print", width=A4_TEXT_WIDTH)

    for shot in shots.values():
        with Image.open(shot.png) as png:
            assert png.width <= A4_TEXT_WIDTH
        if shot.images:
            assert_plots_rendered(shot)
        for image in shot.images:
            left, _, width, height = image.box
            assert left + width <= A4_TEXT_WIDTH
            # Scaled as a whole (the PNGs are wider than the page), so the drawing keeps its shape.
            assert abs(width / height - image.natural_width / image.natural_height) < 0.02
