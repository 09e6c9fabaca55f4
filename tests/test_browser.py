"""The reports as people see them: every demo preset's report.html (and a predict report and
the run index) opened in headless Chromium at a desktop and a phone size.

Needs Playwright for Python and Debian's ``chromium`` (``apt-get install chromium``); without
them these tests skip. Screenshots are saved under the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/lib/chromium/chromium")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
if not CHROMIUM.exists():
    pytest.skip(
        f"no {CHROMIUM}: install the Debian package chromium (apt-get install chromium)",
        allow_module_level=True,
    )

CHECK_PAGE = """async () => {
  const images = Array.from(document.images);
  const tiles = Array.from(document.querySelectorAll(".pic"));
  const sheets = [...new Set(tiles.map(t => getComputedStyle(t).backgroundImage))];
  const decoded = await Promise.all(sheets.map(css => new Promise(done => {
    const url = (css.match(/^url\\("(.*)"\\)$/) || [])[1];
    if (!url || !url.startsWith("data:image/png;base64,")) return done(false);
    const picture = new Image();
    picture.onload = () => done(picture.naturalWidth > 0);
    picture.onerror = () => done(false);
    picture.src = url;
  })));
  const first = document.querySelector("main .pic, main img");
  const box = first ? first.getBoundingClientRect() : null;
  const verdict = document.querySelector(".verdict");
  const line = verdict ? verdict.getBoundingClientRect() : null;
  return {
    images: images.length + tiles.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)
      .concat(sheets.filter((_, i) => !decoded[i]).map(css => "sprite sheet " + css.slice(0, 60))),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    innerHeight: window.innerHeight,
    verdict: line && {top: line.top, bottom: line.bottom, text: verdict.textContent},
    firstImage: box && {top: box.top, bottom: box.bottom, width: box.width, height: box.height},
  };
}"""


def _predict_folder(root: Path) -> Path:
    """40 held-out digits as PNG files in sub-folders named by class (some filed wrongly, so
    the report has errors to show first)."""
    from PIL import Image

    from kinterp.data.datasets import load_mnist_5k

    x, y = load_mnist_5k().test()
    for i in range(40):
        label = int(y[i]) if i % 10 else (int(y[i]) + 1) % 10  # every tenth mislabelled
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        ink = (x[i, ..., 0] * 255).astype(np.uint8)
        Image.fromarray(255 - ink).save(folder / f"digit-{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """Every demo preset's report (``kinterp demo --quick``), a predict report and the index."""
    from kinterp.demo import run_demo
    from kinterp.reporting.html import write_index
    from kinterp.runner import execute
    from kinterp.settings.runspec import RunSpec

    out = tmp_path_factory.mktemp("browser-demo")
    run_demo(out, quick=True, quiet=True, echo=lambda _: None)
    digits = _predict_folder(tmp_path_factory.mktemp("browser-digits"))
    execute(RunSpec("predict", "mnist-cnn", {"inputs": [str(digits)]}, out=str(out)))
    write_index(out)
    return out


@pytest.fixture(scope="module")
def browser():
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        yield browser
        browser.close()


class Visit:
    """One page load: what the console and the network said, and the page's geometry."""

    def __init__(self, browser, path: Path, viewport: dict[str, int], shots: Path):
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.foreign: list[str] = []
        page = browser.new_page(viewport=viewport)
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(r.url[:120]))
        page.on("request", self._request)
        page.goto(path.as_uri(), wait_until="load")
        self.page = page
        self.state = page.evaluate(CHECK_PAGE)
        name = f"{path.parent.name}-{path.stem}-{viewport['width']}.png"
        page.screenshot(path=str(shots / name), full_page=False)

    def _request(self, request) -> None:
        if not request.url.startswith(("file:", "data:")):
            self.foreign.append(request.url)

    def problems(self) -> list[str]:
        """Everything wrong with the load, as readable lines (empty: fine)."""
        s, found = self.state, []
        found += [f"console error: {e}" for e in self.errors]
        found += [f"failed request: {u}" for u in self.failed]
        found += [f"network request: {u}" for u in self.foreign]
        found += [f"broken image: {alt}" for alt in s["broken"]]
        if s["scrollWidth"] > s["innerWidth"]:
            found.append(f"page scrolls sideways: {s['scrollWidth']} > {s['innerWidth']} px")
        return found


def _report_pages(root: Path) -> list[Path]:
    return sorted(root.glob("*/report.html"))


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def test_demo_wrote_every_report(reports):
    names = {p.parent.name.split("-", 2)[2] for p in _report_pages(reports)}
    for technique in ("happymap", "backquery", "robustness", "predict", "datastats"):
        assert any(n.startswith(technique) for n in names), names


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_reports_load_cleanly(browser, reports, shots, viewport):
    problems = []
    for path in _report_pages(reports):
        visit = Visit(browser, path, viewport, shots)
        problems += [f"{path.parent.name} at {viewport['width']} px: {p}" for p in visit.problems()]
        assert visit.state["images"] > 0, path
        visit.page.close()
    assert not problems, "\n".join(problems)


PLOT_SOURCES = """() => Array.from(document.querySelectorAll("figure.plot img")).map(img => ({
  narrow: !!img.parentElement.querySelector("source"),
  chosen: img.currentSrc === img.getAttribute("src") ? "wide" : "narrow",
  scale: img.getBoundingClientRect().width / img.naturalWidth,
}))"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_small_multiples_change_layout_on_a_phone(browser, reports, shots, viewport):
    """robustness's accuracy panels: four a row on a desktop at full size; on a phone the
    two-a-row layout, drawn at least 0.6 of its size (four a row would be 0.34)."""
    plots = []
    for path in _report_pages(reports):
        if "robustness" in path.parent.name:
            visit = Visit(browser, path, viewport, shots)
            plots += [p for p in visit.page.evaluate(PLOT_SOURCES) if p["narrow"]]
            visit.page.close()
    assert plots, "no plot with a phone layout"
    for plot in plots:
        if viewport is PHONE:
            assert plot["chosen"] == "narrow" and plot["scale"] >= 0.6, plot
        else:
            assert plot["chosen"] == "wide" and plot["scale"] == pytest.approx(1.0), plot


def test_verdict_and_first_image_are_on_the_first_screen(browser, reports, shots):
    problems = []
    for path in _report_pages(reports):
        visit = Visit(browser, path, DESKTOP, shots)
        s, height = visit.state, DESKTOP["height"]
        if not s["verdict"] or not s["verdict"]["text"].strip():
            problems.append(f"{path.parent.name}: no verdict line")
        elif s["verdict"]["bottom"] > height:
            problems.append(f"{path.parent.name}: verdict below the fold ({s['verdict']})")
        first = s["firstImage"]
        if first is None or first["width"] < 100 or first["bottom"] > height:
            problems.append(f"{path.parent.name}: first image not on the first screen ({first})")
        visit.page.close()
    assert not problems, "\n".join(problems)


def test_report_copied_alone_shows_every_image(browser, reports, shots, tmp_path):
    for path in _report_pages(reports):
        alone = tmp_path / path.parent.name / "report.html"
        alone.parent.mkdir()
        shutil.copy(path, alone)
        visit = Visit(browser, alone, DESKTOP, shots)
        assert visit.state["images"] > 0 and not visit.problems(), (path, visit.problems())
        visit.page.close()


def test_predict_shows_errors_first(browser, reports, shots):
    (path,) = [p for p in _report_pages(reports) if "-predict-" in p.parent.name]
    visit = Visit(browser, path, DESKTOP, shots)
    page = visit.page
    assert page.locator(".verdict").inner_text().startswith(tuple(f"{n}/40" for n in range(41)))
    first = page.locator(".tile").first
    assert "wrong" in first.get_attribute("class") and "true " in first.inner_text()
    assert page.locator(".tile .bars").count() == 40
    assert page.get_by_text("Confusion matrix").count() >= 1
    assert not page.locator("details").first.evaluate("d => d.open")
    page.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_index_sorts_and_filters(browser, reports, shots, viewport):
    visit = Visit(browser, reports / "index.html", viewport, shots)
    assert not visit.problems(), visit.problems()
    page = visit.page
    rows = page.locator("#runs tbody tr")
    count = rows.count()
    assert count == len(_report_pages(reports))
    page.locator("#runs th", has_text="technique").click()
    names = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(count)]
    assert names == sorted(names)
    page.locator("#runs th", has_text="technique").click()
    names = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(count)]
    assert names == sorted(names, reverse=True)
    page.select_option("#f-technique", "backquery")
    shown = [rows.nth(i) for i in range(count) if rows.nth(i).is_visible()]
    assert shown and all(r.locator("td").nth(1).inner_text() == "backquery" for r in shown)
    page.close()


CHECK_INDEX = """() => {
  const row = document.querySelector("#runs tbody tr");
  const box = el => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  };
  return {
    scrollWidth: document.documentElement.scrollWidth,
    finding: box(row.querySelector(".verdict-cell")),
    findingText: row.querySelector(".verdict-cell").textContent.trim(),
    preview: box(row.querySelector(".thumbs")),
    headers: Array.from(document.querySelectorAll("#runs th")).map(box),
  };
}"""


@pytest.fixture(scope="module")
def small_index(tmp_path_factory) -> Path:
    """The cheapest run twice (one index row, linking the earlier) and a robustness run with a
    long finding, indexed."""
    from kinterp.demo import technique_param_specs
    from kinterp.reporting.html import write_index
    from kinterp.runner import execute
    from kinterp.settings.runspec import RunSpec

    out = tmp_path_factory.mktemp("browser-index-with-a-rather-long-folder-name-for-a-phone")
    happymap = RunSpec("happymap", "mnist-mlp", {"classes": [0], "steps": 4}, out=str(out))
    for spec in (happymap, happymap):
        execute(spec, quiet=True)
    params = {"limit": 100, "family": ["noise"]}
    execute(RunSpec("robustness", "mnist-cnn", params, out=str(out)), quiet=True)
    return write_index(out, technique_param_specs)


def _index_fits_a_phone(browser, index: Path, shots: Path) -> None:
    visit = Visit(browser, index, PHONE, shots)
    state = visit.page.evaluate(CHECK_INDEX)
    width, height = PHONE["width"], PHONE["height"]
    assert not visit.problems(), visit.problems()
    assert state["scrollWidth"] <= width, state
    finding, preview = state["finding"], state["preview"]
    assert state["findingText"] and finding["left"] >= 0 and finding["right"] <= width, state
    assert finding["bottom"] <= height, f"the first finding is below the first screen: {state}"
    assert preview["left"] >= 0 and preview["right"] <= width, state
    assert all(h["left"] >= 0 and h["right"] <= width for h in state["headers"]), state
    visit.page.close()


def test_small_index_fits_a_phone(browser, small_index, shots):
    _index_fits_a_phone(browser, small_index, shots)


def test_demo_index_fits_a_phone(browser, reports, shots):
    _index_fits_a_phone(browser, reports / "index.html", shots)


def test_index_sorts_and_filters_on_a_phone(browser, small_index, shots):
    visit = Visit(browser, small_index, PHONE, shots)
    page = visit.page
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 2  # the same happymap settings twice are one row
    page.locator("#runs th", has_text="technique").click()
    names = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(2)]
    assert names == ["happymap", "robustness"]
    page.select_option("#f-technique", "robustness")
    assert not rows.nth(0).is_visible() and rows.nth(1).is_visible()
    page.close()


def test_a_lone_map_is_shown_large(browser, reports, shots):
    """#24: robustness's border-sensitivity map (one image) is drawn about 360 px wide on a
    desktop, not as a 140 px thumbnail, with its colour bar under it."""
    (page_path,) = [p for p in _report_pages(reports) if "robustness-mnist-cnn" in str(p)][:1]
    visit = Visit(browser, page_path, DESKTOP, shots)
    size = visit.page.evaluate(
        """() => {
      const section = [...document.querySelectorAll("section")]
        .find(s => s.querySelector("h2")?.textContent === "Border sensitivity");
      const pic = section.querySelector(".pic").getBoundingClientRect();
      return {width: pic.width, bar: !!section.querySelector(".colourbar")};
    }"""
    )
    assert 300 <= size["width"] <= 370 and size["bar"], size
    visit.page.close()


def test_the_sweep_comparison_fits_a_phone(browser, shots, tmp_path):
    """#24: comparison.html at 390 px: no sideways page scroll (its tables scroll in their own
    box), grid points as lr=0.1, a viewport tag."""
    from kinterp.sweeps.compare import write_comparison

    runs = [
        {
            "model": f"a-model-with-a-long-name-{i}.keras",
            "technique": technique,
            "grid": {"lr": lr, "tv": 0.01},
            "seed": seed,
            "status": "ok",
            "report_status": "ok",
            "metric": "mean_confidence",
            "value": 0.5 + lr,
            "seconds": 1.25,
            "report": f"runs/{i}{seed}/x",
        }
        for i, technique in enumerate(("happymap", "sadmap"))
        for lr in (0.05, 0.1)
        for seed in (0, 1)
    ]
    page_path = write_comparison(tmp_path, runs)
    visit = Visit(browser, page_path, PHONE, shots)
    assert not visit.problems(), visit.problems()
    text = visit.page.inner_text("body")
    assert "lr=0.1 tv=0.01" in text and '{"lr"' not in text
    visit.page.close()
