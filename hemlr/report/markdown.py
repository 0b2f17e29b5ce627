"""summary.md: the report's sections (hemlr.report.sections) as markdown, figures as links to
their PNG files beside it.

Every text the report did not write itself (names, paths, notes of data files, table cells)
may hold markup: each passes :func:`_text`, so it can neither open a tag nor start a line.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .flags import Flag
from .jobs import Pathish
from .sections import Report, Section, build_report


def _text(value: object) -> str:
    """``value`` as inline markdown text: HTML's special characters as entities (no tag can
    open) and line breaks as spaces (no heading, list or quote can start)."""
    return re.sub(r"[\r\n\f\v\u2028\u2029]+", " ", html.escape(str(value), quote=False))


def _flag(flag: Flag) -> str:
    jobs = f"{', '.join(f'`{_text(j)}`' for j in flag.jobs)} " if flag.jobs else ""
    return f"> **WARNING: {_text(flag.label)}:** {jobs}{_text(flag.text)}"


def _escape(cell: object) -> str:
    """A cell's text (:func:`_text`) with ``|`` escaped: a bare one would end the cell."""
    return _text(cell).replace("|", r"\|")


def table_markdown(table: pd.DataFrame) -> str:
    """A table as markdown, its index as the first column; cells as they are (numparse off:
    tabulate would reformat the numbers formatted by hemlr.report.tables, 0.5100 -> 0.51)."""
    escaped = table.rename(index=_escape, columns=_escape).applymap(_escape)
    escaped.index.name = _escape(table.index.name or "")
    return escaped.to_markdown(disable_numparse=True)


def section_lines(section: Section) -> list[str]:
    """The section's lines, each block after an empty line."""
    lines = ["", f"{'#' * section.level} {_text(section.title)}"]
    for note in section.notes:
        lines += ["", _text(note)]
    for flag in section.flags:
        lines += ["", _flag(flag)]
    if section.bullets:
        lines += ["", *(f"- {_text(bullet)}" for bullet in section.bullets)]
    if section.plot:
        lines += ["", f"![{_text(section.caption)}]({section.plot.file})"]
    if section.table is not None:
        lines += ["", table_markdown(section.table)]
    return lines


def render_markdown(report: Report) -> str:
    """The whole of summary.md: title, what ran, every section in order, the notes."""
    lines = [f"# {_text(report.title)}", "", f"What ran: {_text(report.jobs)}"]
    lines += [line for section in report.sections for line in section_lines(section)]
    return "\n".join([*lines, "", f"Notes: {_text(report.notes)}"]) + "\n"


def write_summary(df: pd.DataFrame, path: Pathish, manifests: Mapping[str, Mapping] | None = None,
                  scaling: Sequence[str] = ()) -> None:
    """summary.md of the merged table ``df`` (arguments as sections.build_report's)."""
    Path(path).write_text(render_markdown(build_report(df, manifests, scaling)))
