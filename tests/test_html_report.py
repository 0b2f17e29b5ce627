"""hemlr.report.html on small synthetic tables: one self-contained page with every warning."""
from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from hemlr.pricing import PREDICTED
from hemlr.report.html import render_html, write_html
from hemlr.report.markdown import write_summary
from hemlr.report.tables import merge_tables

from .offline_html import external_references
from .test_report import DIGITS, PAPER, PNG_MAGIC, fake_run_experiment, repeated, scaling_run, write_job


class _Page(HTMLParser):
    """The page's banners (class, text), h2 headings, h2 and h3 headings (as markdown's ## and
    ###), image sources and table header rows."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.banners: list[tuple[str, str]] = []
        self.h2: list[str] = []
        self.headings: list[str] = []
        self.images: list[str] = []
        self.headers: list[list[str]] = []
        self._thead = False
        self._open: list[tuple[str, str, list[str]]] = []  # (tag, class, text) being captured
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        elif tag == "thead":
            self._thead = True
            self.headers.append([])
        elif tag in ("h2", "h3") or (tag == "th" and self._thead) or (tag == "div" and "banner" in cls):
            self._open.append((tag, cls, []))

    def handle_data(self, data: str) -> None:
        for _, _, text in self._open:
            text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._thead = False
        if not self._open or self._open[-1][0] != tag:
            return
        _, cls, parts = self._open.pop()
        text = re.sub(r"\s+", " ", "".join(parts)).strip()
        if tag in ("h2", "h3"):
            self.headings.append(f"{'#' * int(tag[1])} {text}")
        {"h2": self.h2.append, "h3": lambda t: None, "div": lambda t: self.banners.append((cls, t)),
         "th": lambda t: self.headers[-1].append(t)}[tag](text)


def _merged(tmp_path: Path, *extra: pd.DataFrame) -> pd.DataFrame:
    jobs = [write_job(tmp_path, ds, b) for ds in (DIGITS, PAPER) for b in ("plaintext", "tenseal-n32768", "concrete-sim")]
    df = merge_tables([t for t, _ in jobs], [b for _, b in jobs])
    return pd.concat([df, *extra], ignore_index=True)


def test_page_loads_nothing_from_elsewhere(tmp_path: Path):
    path = tmp_path / "report.html"
    write_html(_merged(tmp_path), path)
    html = path.read_text(encoding="utf-8")
    assert external_references(html) == []
    page = _Page(html)
    # Two figures per dataset, each an inline PNG.
    assert len(page.images) == 4
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_the_checker_finds_external_references():
    page = """<html><head><link rel="stylesheet" href="//cdn.example/x.css">
        <style>body { background: url('bg.png') } @import "y.css";</style>
        <meta http-equiv="refresh" content="0; url=other.html">
        <script src="app.js"></script></head>
        <body><img src="plot.png"><a href="#top">top</a><img src="data:image/png;base64,AA//BB">
        <p style="background: url(x.png)">see https://example.org</p></body></html>"""
    found = external_references(page)
    assert len(found) == 8, found
    for needle in ("//cdn.example", "url('bg.png')", "@import", "url=other.html", "app.js", "plot.png",
                   "url(x.png)", "https://example.org"):
        assert any(needle in f for f in found), (needle, found)
    assert not any("#top" in f or "AA//BB" in f for f in found)


def test_sections_tables_and_provenance(tmp_path: Path):
    html = render_html(_merged(tmp_path))
    page = _Page(html)
    assert page.h2 == ["Provenance", "Dataset digits", "Dataset mnist"]
    # The backends side by side: one column each, labelled with their warnings.
    assert ["metric", "plaintext", "tenseal-n32768", "concrete-sim [SIMULATED]"] in page.headers
    assert ["iteration", "plaintext", "tenseal-n32768", "concrete-sim [SIMULATED]"] in page.headers
    for provenance in ("testhost", "Test CPU @ 2.0GHz", "abc1234", "tenseal: 0.3.16", "3.10.13"):
        assert provenance in html
    for row in ("test accuracy (final)", "rotations / iteration", "keygen: wall s, total",
                "upload (ciphertexts / bytes)", "evaluation keys"):
        assert f"<th>{row}</th>" in html
    assert "12 / 75 MB" in html and "400 MB" in html


def test_banners_for_every_warning(tmp_path: Path):
    insecure = fake_run_experiment(DIGITS, "tenseal-n32768").assign(backend="tenseal-insecure", security_bits=None,
                                                                      security="none (test parameters)")
    failed = fake_run_experiment(PAPER, "plaintext").assign(backend="broken", failed=True).iloc[:1]
    page = _Page(render_html(_merged(tmp_path, insecure, failed)))
    by_label = {text.split(":")[0].split(".")[0]: (cls, text) for cls, text in page.banners}
    assert [text.split(":")[0].split(".")[0] for _, text in page.banners] == [
        "NOT THE PAPER'S DATA", "SIMULATED, NOT ENCRYPTED", "INSECURE",  # digits
        "FAILED", "SIMULATED, NOT ENCRYPTED"]  # mnist (the paper's data)
    assert "danger" in by_label["FAILED"][0] and "broken drifted" in by_label["FAILED"][1]
    assert "danger" in by_label["INSECURE"][0] and "tenseal-insecure state no security level" in by_label["INSECURE"][1]
    assert "NOT the paper's MNIST+RegNet data" in by_label["NOT THE PAPER'S DATA"][1]
    assert ["metric", "plaintext", "tenseal-n32768", "concrete-sim [SIMULATED]", "tenseal-insecure [INSECURE]"] \
        in page.headers
    assert ["metric", "plaintext", "tenseal-n32768", "concrete-sim [SIMULATED]", "broken [FAILED]"] in page.headers


def test_no_failed_banner_when_the_column_is_false_or_absent(tmp_path: Path):
    df = _merged(tmp_path).assign(failed=False)
    for table in (df, df.drop(columns="failed")):
        page = _Page(render_html(table))
        assert not any("FAILED" in text for _, text in page.banners)
        assert not any("[FAILED]" in cell for row in page.headers for cell in row)


def test_text_is_escaped(tmp_path: Path):
    df = _merged(tmp_path)
    df["dataset_note"] = "<script>alert(1)</script> & co"
    html = render_html(df)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def test_manifest_inputs_are_listed(tmp_path: Path):
    manifests = {"mnist": {"inputs": ["- RegNet weights `/w/regnet.pth`: sha256 `abcd`"]}}
    html = render_html(_merged(tmp_path), manifests)
    assert "<li>RegNet weights <code>/w/regnet.pth</code>: sha256 <code>abcd</code></li>" in html


@pytest.mark.parametrize("iterations", [1, 50])
def test_a_single_job_renders(tmp_path: Path, iterations: int):
    table = tmp_path / "t.parquet"
    fake_run_experiment(DIGITS, "plaintext", iterations=iterations).to_parquet(table, index=False)
    _, bench = write_job(tmp_path, DIGITS, "plaintext")
    html = render_html(merge_tables([table], [bench]))
    assert external_references(html) == [] and html.count("<tr><th>") > iterations


def test_repeats_get_their_statistics_table(tmp_path: Path):
    once = _merged(tmp_path)
    assert "<h3>Repeats</h3>" not in render_html(once)
    five = repeated(PAPER, "tenseal-n32768", [1.0, 2.0, 3.0, 4.0, 100.0]).assign(backend="tenseal-x5")
    html = render_html(pd.concat([once, five], ignore_index=True))
    page = _Page(html)
    assert html.count("<h3>Repeats</h3>") == 1 and "none is set apart as warm-up" in html
    assert ["job", "quantity", "n", "median", "min", "max", "IQR", "median 95% interval (coverage)"] in page.headers
    assert ("<tr><th>tenseal-x5</th><td>keygen: wall s</td><td>5</td><td>3</td><td>1</td><td>100</td>"
            "<td>2</td><td>1 - 100 (93.8%, the range)</td></tr>") in html


def test_scaling_plots_and_the_cost_model_get_sections_of_their_own(tmp_path: Path):
    df = scaling_run()
    df = df.assign(**{PREDICTED: df["time_iteration_s"] * 1.1})
    page = _Page(render_html(df, scaling=["n", "ring"]))
    assert page.h2[-3:] == ["Scaling with training samples n", "Scaling with ring dimension N", "Cost model"]
    assert ["job", "iteration", "measured s (median)", "measured s (min - max)", "predicted s", "error", "flag"] \
        in page.headers
    assert len(page.images) == len(_Page(render_html(df)).images) + 2
    assert "Cost model" not in _Page(render_html(df.drop(columns=PREDICTED))).h2


def test_the_page_and_summary_md_show_the_same_sections(tmp_path: Path):
    """Both render one list of sections: the same headings, warnings, tables and figures."""
    df = scaling_run().assign(grid_params="ring_dim", dataset_grid=None, workload_grid=None)
    df = pd.concat([df.assign(**{PREDICTED: df["time_iteration_s"] * 1.5}),
                    fake_run_experiment(PAPER, "concrete-sim")], ignore_index=True)
    write_summary(df, tmp_path / "summary.md", scaling=["n", "ring"])
    text = (tmp_path / "summary.md").read_text()
    page = _Page(html := render_html(df, scaling=["n", "ring"]))
    headings = [line.replace("`", "") for line in text.splitlines() if line.startswith(("## ", "### "))]
    assert headings == page.headings
    assert "## Grids" in headings and "### Grid tenseal on d_n_train~64" in headings  # the grids are in both
    assert "## Cost model" in headings and "### Inputs" not in headings
    assert text.count("> **WARNING: ") == len(page.banners) > 0
    assert sum(line.startswith("|:") for line in text.splitlines()) == html.count("<thead>")
    assert text.count("](") == len(page.images)
