"""summary.md: the report's sections (hemlr.report.sections) as markdown, figures as links to
their PNG files beside it."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .flags import Flag
from .jobs import Pathish
from .sections import Report, Section, build_report


def _flag(flag: Flag) -> str:
    jobs = f"{', '.join(f'`{j}`' for j in flag.jobs)} " if flag.jobs else ""
    return f"> **WARNING: {flag.label}:** {jobs}{flag.text}"


def _escape(cell: object) -> str:
    """A cell's text with ``|`` escaped: a bare one would end the cell."""
    return str(cell).replace("|", r"\|")


def table_markdown(table: pd.DataFrame) -> str:
    """A table as markdown, its index as the first column; cells as they are (numparse off:
    tabulate would reformat the numbers formatted by hemlr.report.tables, 0.5100 -> 0.51)."""
    escaped = table.rename(index=_escape, columns=_escape).applymap(_escape)
    escaped.index.name = _escape(table.index.name or "")
    return escaped.to_markdown(disable_numparse=True)


def section_lines(section: Section) -> list[str]:
    """The section's lines, each block after an empty line."""
    lines = ["", f"{'#' * section.level} {section.title}"]
    for note in section.notes:
        lines += ["", note]
    for flag in section.flags:
        lines += ["", _flag(flag)]
    if section.bullets:
        lines += ["", *(f"- {bullet}" for bullet in section.bullets)]
    if section.plot:
        lines += ["", f"![{section.caption}]({section.plot.file})"]
    if section.table is not None:
        lines += ["", table_markdown(section.table)]
    return lines


def render_markdown(report: Report) -> str:
    """The whole of summary.md: title, what ran, every section in order, the notes."""
    lines = [f"# {report.title}", "", f"What ran: {report.jobs}"]
    lines += [line for section in report.sections for line in section_lines(section)]
    return "\n".join([*lines, "", f"Notes: {report.notes}"]) + "\n"


def write_summary(df: pd.DataFrame, path: Pathish, manifests: Mapping[str, Mapping] | None = None,
                  scaling: Sequence[str] = ()) -> None:
    """summary.md of the merged table ``df`` (arguments as sections.build_report's)."""
    Path(path).write_text(render_markdown(build_report(df, manifests, scaling)))
