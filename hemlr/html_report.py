"""reports/<run>/report.html: the run's report as one self-contained page.

Everything is inline (CSS, and the figures as base64 PNG ``data:`` URIs), so the file opens
offline, from a mail attachment or an archive, and loads nothing from anywhere. The numbers
and warnings come from hemlr.report, the same functions as summary.md.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from matplotlib.figure import Figure

from . import report
from .report import Pathish

_ENV = Environment(loader=PackageLoader("hemlr", "templates"), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    return {"corner": frame.index.name or "", "columns": [str(c) for c in frame.columns],
            "rows": [(str(index), [str(v) for v in values]) for index, values in zip(frame.index, frame.values)]}


# A banner's colour by the weight of its warning.
_SEVERITY = {"FAILED": "danger", "INSECURE": "danger", "SIMULATED, NOT ENCRYPTED": "warn"}


def _section(title: str, table: pd.DataFrame, figure: Figure | None = None, collapsed: bool = False,
             note: str | None = None) -> dict[str, Any]:
    return {"title": title, "table": _table(table), "figure": _png(figure) if figure else None, "collapsed": collapsed,
            "note": note}


def _dataset(name: str, rows: pd.DataFrame, manifest: Mapping | None) -> dict[str, Any]:
    first = rows.iloc[0]
    groups = {title: report.side_by_side(rows, metrics) for title, metrics in report.metric_groups(rows).items()}
    repeats = report.repeats_table(rows)
    return {
        "name": name,
        "line": report.dataset_line(rows),
        "paper_note": str(first.get("dataset_note", "")) if bool(first.get("paper_data", False)) else None,
        "inputs": [line.removeprefix("- ") for line in (manifest or {}).get("inputs", [])],
        "flags": [{"label": f.label, "jobs": f.jobs, "text": f.text, "css": _SEVERITY.get(f.label, "note")}
                  for f in report.dataset_flags(rows)],
        "sections": [
            _section("Backends side by side", groups["Overview"]),
            _section("Accuracy per iteration", report.accuracy_table(rows), report.accuracy_figure(rows),
                     collapsed=True),
            _section("Time per phase and memory", groups["Time and memory"], report.phases_figure(rows)),
            _section("Operation counts", groups["Operations"]),
            _section("Upload, download and key sizes", groups["Upload, download and keys"]),
            *([_section("Repeats", repeats, note=report.REPEATS_NOTE)] if not repeats.empty else []),
        ],
    }


def _run_sections(df: pd.DataFrame, scaling: Sequence[str]) -> list[dict[str, Any]]:
    """The sections about the whole run: the scaling plots (report.SCALING_AXES keys) and the
    cost model's predictions, where there are any."""
    sections = [{"title": f"Scaling with {report.SCALING_AXES[axis][1]}", "table": None, "note": None,
                 "figure": _png(report.scaling_figure(df, axis))} for axis in scaling]
    costs = report.cost_model_table(df)
    if not costs.empty:
        sections.append({"title": "Cost model", "table": _table(costs), "note": report.COST_MODEL_NOTE, "figure": None})
    return sections


def render_html(df: pd.DataFrame, manifests: Mapping[str, Mapping] | None = None, scaling: Sequence[str] = ()) -> str:
    """The page for the merged table ``df`` (manifests: dataset name -> data-stage manifest;
    scaling: the scaling plots to draw, hemlr.grids.scaling_axes)."""
    datasets = [_dataset(str(name), rows, (manifests or {}).get(str(name)))
                for name, rows in df.groupby("dataset", sort=False)]
    return _ENV.get_template("report.html.j2").render(
        run=report.run_name(df), jobs=report.jobs_line(df), provenance=report.provenance_items(df),
        datasets=datasets, run_sections=_run_sections(df, scaling), notes=report.NOTES)


def write_html(df: pd.DataFrame, path: Pathish, manifests: Mapping[str, Mapping] | None = None,
               scaling: Sequence[str] = ()) -> None:
    """Write render_html's page to ``path`` (UTF-8)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_html(df, manifests, scaling))
