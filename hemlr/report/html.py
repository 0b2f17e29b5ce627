"""reports/<run>/report.html: the report's sections (hemlr.report.sections) as one
self-contained page.

Everything is inline (CSS, and the figures as base64 PNG ``data:`` URIs), so the file opens
offline, from a mail attachment or an archive, and loads nothing from anywhere. The template
(hemlr/templates/report.html.j2) escapes every text.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from .flags import Flag
from .jobs import Pathish
from .sections import Section, build_report

_ENV = Environment(loader=PackageLoader("hemlr", "templates"), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)

# A banner's colour by the weight of its warning.
_SEVERITY = {"FAILED": "danger", "INSECURE": "danger", "SIMULATED, NOT ENCRYPTED": "warn"}


def _png(section: Section) -> str | None:
    """The section's figure as a data: URI."""
    if section.plot is None:
        return None
    buf = io.BytesIO()
    section.plot.draw().savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _table(frame: pd.DataFrame | None) -> dict[str, Any] | None:
    if frame is None:
        return None
    return {"corner": frame.index.name or "", "columns": [str(c) for c in frame.columns],
            "rows": [(str(index), [str(v) for v in values]) for index, values in zip(frame.index, frame.values)]}


def _flag(flag: Flag) -> dict[str, Any]:
    return {"label": flag.label, "jobs": flag.jobs, "text": flag.text, "css": _SEVERITY.get(flag.label, "note")}


def _section(section: Section) -> dict[str, Any]:
    return {"title": section.title, "dataset": section.dataset, "notes": section.notes,
            "flags": [_flag(f) for f in section.flags], "bullets": section.bullets, "figure": _png(section),
            "caption": section.caption, "table": _table(section.table), "folded": section.folded}


def _parts(sections: Sequence[Section]) -> list[dict[str, Any]]:
    """The level-2 sections, each with the level-3 sections that follow it (a <section> of
    the page each)."""
    parts: list[dict[str, Any]] = []
    for section in sections:
        if section.level == 2:
            parts.append({**_section(section), "sections": []})
        else:
            parts[-1]["sections"].append(_section(section))
    return parts


def render_html(df: pd.DataFrame, manifests: Mapping[str, Mapping] | None = None, scaling: Sequence[str] = ()) -> str:
    """The page of the merged table ``df`` (arguments as sections.build_report's)."""
    report = build_report(df, manifests, scaling)
    return _ENV.get_template("report.html.j2").render(title=report.title, jobs=report.jobs,
                                                      parts=_parts(report.sections), notes=report.notes)


def write_html(df: pd.DataFrame, path: Pathish, manifests: Mapping[str, Mapping] | None = None,
               scaling: Sequence[str] = ()) -> None:
    """Write render_html's page to ``path`` (UTF-8)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_html(df, manifests, scaling))
