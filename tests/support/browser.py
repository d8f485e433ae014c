"""Open an HTML document in headless Chromium and photograph its sections, as a reader would see them.

The browser is Debian's ``chromium`` (``ops/install.sh --test`` installs it), driven by playwright;
playwright's own browser download is never used. If chromium is missing the calling test fails with
a message naming the install step: a missing browser must never pass for a rendered report.

Example::

    shots = screenshot_sections(tmp_path / "report.html", tmp_path / "shots")
    for shot in shots.values():
        if shot.images:
            assert_plots_rendered(shot)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from PIL import Image

if TYPE_CHECKING:
    from playwright.sync_api._context_manager import PlaywrightContextManager

CHROMIUM = Path(os.environ.get("OAIS_TEST_CHROMIUM", "/usr/bin/chromium"))
INSTALL_HINT = "run `bash ops/install.sh --test` as root (it installs Debian's chromium package)"

#: Width of the browser window used for screenshots, in CSS pixels (1 CSS pixel = 1 screenshot pixel).
WINDOW_WIDTH = 1100
#: The text width of an A4 page with 14 mm margins, in CSS pixels (96 per inch).
A4_TEXT_WIDTH = round((210 - 2 * 14) / 25.4 * 96)

# Run in the page by the test driver (the document itself has no script): each section's images as
# the browser decoded and laid them out, with their boxes relative to the section.
_IMAGES_JS = """
section => {
  const s = section.getBoundingClientRect();
  return Array.from(section.querySelectorAll("img")).map(img => {
    const r = img.getBoundingClientRect();
    return {alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth,
            naturalHeight: img.naturalHeight,
            box: [r.left + img.clientLeft - s.left, r.top + img.clientTop - s.top,
                  img.clientWidth, img.clientHeight]};
  });
}
"""


@dataclass(frozen=True)
class ImageState:
    """One ``<img>`` as the browser reports it."""

    alt: str
    complete: bool
    natural_width: int  # 0 if the image could not be decoded
    natural_height: int
    #: Where the picture is drawn (inside any border), in CSS pixels relative to its section:
    #: (left, top, width, height).
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class SectionShot:
    """An element screenshot of one ``<section>`` and the state of the images in it."""

    key: str  # the section's id
    png: Path
    images: tuple[ImageState, ...]


def screenshot_sections(
    html: Path, out_dir: Path, *, media: Literal["screen", "print"] = "screen", width: int = WINDOW_WIDTH
) -> dict[str, SectionShot]:
    """Open ``html`` in headless Chromium and screenshot every ``<section id=...>``.

    The browser context is offline: a document that needs the network shows it as missing images
    (and as requests, which fail the call).

    Args:
        html: the HTML file.
        out_dir: where the PNGs go (created), one ``NN-<id>.png`` per section.
        media: the CSS media to emulate (``print`` applies the ``@media print`` rules).
        width: the window's width in CSS pixels (:data:`A4_TEXT_WIDTH` to see a printed page's width).

    Returns:
        The shots, by section id, in document order.

    Raises:
        pytest.fail.Exception: chromium or playwright is missing, or the page asked for anything but
            itself and ``data:`` URIs.
    """
    sync_playwright = _playwright()
    out_dir.mkdir(parents=True, exist_ok=True)
    document = html.resolve().as_uri()
    requested: list[str] = []
    shots: dict[str, SectionShot] = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": 900}, device_scale_factor=1, offline=True
            )
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.emulate_media(media=media)
            page.goto(document, wait_until="load")
            sections = page.locator("section[id]")
            for index in range(sections.count()):
                section = sections.nth(index)
                key = section.get_attribute("id") or ""
                png = out_dir / f"{index:02d}-{_file_name(key)}.png"
                section.screenshot(path=str(png), animations="disabled")
                states: list[dict[str, Any]] = section.evaluate(_IMAGES_JS)
                shots[key] = SectionShot(key=key, png=png, images=tuple(_image(state) for state in states))
        finally:
            browser.close()
    foreign = [url for url in requested if url != document and not url.startswith("data:")]
    if foreign:
        pytest.fail(f"{html.name} is not self-contained: it asked for {foreign}", pytrace=False)
    return shots


def assert_plots_rendered(shot: SectionShot) -> None:
    """Check that a section's images loaded and that its screenshot shows them.

    Every image must be decoded (``complete`` with a natural size), the screenshot must be large
    enough to hold every image where the browser laid it out, the section as a whole must not be a
    blank page, and each image's area of the screenshot must show a drawing (many colours, not one).

    Args:
        shot: a shot from :func:`screenshot_sections` of a section holding at least one image.

    Raises:
        AssertionError: what is wrong, naming the section and the image.
    """
    assert shot.images, f"section {shot.key}: no images"
    with Image.open(shot.png) as opened:
        screenshot = opened.convert("RGB")
    width, height = screenshot.size
    assert _distinct_colours(screenshot) >= 16, f"section {shot.key}: the screenshot is blank"
    assert _ink(screenshot) >= 0.01, f"section {shot.key}: the screenshot is almost all white"
    for image in shot.images:
        what = f"section {shot.key}, image {image.alt!r}"
        assert image.complete, f"{what}: not loaded"
        assert image.natural_width > 0 and image.natural_height > 0, f"{what}: not decoded"
        left, top, box_width, box_height = image.box
        assert box_width > 0 and box_height > 0, f"{what}: not laid out"
        right, bottom = left + box_width, top + box_height
        assert left >= -0.5 and top >= -0.5, f"{what}: drawn outside its section"
        assert right <= width + 0.5 and bottom <= height + 0.5, (
            f"{what}: drawn at {image.box}, outside the {width}x{height} screenshot (cut)"
        )
        area = screenshot.crop((round(left), round(top), round(right), round(bottom)))
        assert _distinct_colours(area) >= 8, f"{what}: its area of the screenshot is blank"


def _playwright() -> Callable[[], PlaywrightContextManager]:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"headless Chromium is missing ({CHROMIUM}): {INSTALL_HINT}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the Python package playwright is missing: {INSTALL_HINT}", pytrace=False)
    return sync_playwright


def _image(state: dict[str, Any]) -> ImageState:
    left, top, width, height = (float(v) for v in state["box"])
    return ImageState(
        alt=str(state["alt"]),
        complete=bool(state["complete"]),
        natural_width=int(state["naturalWidth"]),
        natural_height=int(state["naturalHeight"]),
        box=(left, top, width, height),
    )


def _file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key) or "section"


def _distinct_colours(image: Image.Image) -> int:
    colours = image.getcolors(maxcolors=1 << 16)
    return 1 << 16 if colours is None else len(colours)


def _ink(image: Image.Image) -> float:
    # The share of pixels that are not (nearly) white.
    grey = image.convert("L")
    histogram = grey.histogram()
    return sum(histogram[:240]) / max(1, grey.width * grey.height)
