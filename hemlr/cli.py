"""The ``hemlr`` command: results that accumulate, read from their tables.

    hemlr compare A B [--fail KIND:LIMIT]... [--level 0.95] [--html PATH]
    hemlr history append RUN_DIR_OR_TABLE... [--store DIR]
    hemlr history render --out PATH [--store DIR]

Exit status: 0 done, 1 a ``--fail`` gate found a regression, 2 a bad command line (an
unknown option, a threshold without meaning, a path that holds no results table), with the
argument and what is allowed named, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hemlr import compare, history


def _level(text: str) -> float:
    """An argparse ``type=``: a confidence level strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a confidence level strictly between 0 and 1, e.g. 0.95")
    return value


def _gate(text: str) -> compare.Gate:
    try:
        return compare.parse_gate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hemlr", description="Compare runs of hemlr-bench and keep their results.")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = commands.add_parser("compare", help="two runs job by job, with an optional regression gate",
                            description="Compare run B against run A, job by job (hemlr.compare).")
    c.add_argument("a", metavar="A", help="the baseline: a run folder (reports/<run>/) or a results .parquet/.csv")
    c.add_argument("b", metavar="B", help="the run compared with it, likewise")
    c.add_argument("--fail", metavar="KIND:LIMIT", type=_gate, action="append", default=[],
                   help="exit 1 when a matched job regresses beyond LIMIT and beyond the noise: "
                        + compare.GATE_SYNTAX.replace("%", "%%") + "; may be given several times")
    c.add_argument("--level", type=_level, default=compare.LEVEL, help="confidence level of the intervals "
                                                                       "(default %(default)s)")
    c.add_argument("--html", metavar="PATH", type=Path, help="also write the comparison as a self-contained page")
    c.add_argument("--exact", action="store_true",
                   help="exit 1 when B differs from A in an accuracy or an operation count, or has other jobs "
                        "or iterations (a baseline check; times are shown, not judged)")

    h = commands.add_parser("history", help="the results store across runs, commits and machines",
                            description="The results store (hemlr.history), a partitioned parquet dataset.")
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--store", type=Path, default=history.DEFAULT_STORE,
                       help="the store's folder (default %(default)s)")
    actions = h.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("append", parents=[store], help="add runs' rows to the store")
    a.add_argument("runs", nargs="+", metavar="RUN_DIR_OR_TABLE", help="run folders or results tables")
    r = actions.add_parser("render", parents=[store], help="write the store's index page")
    r.add_argument("--out", type=Path, required=True, metavar="PATH", help="the page to write")
    return p


def _read(p: argparse.ArgumentParser, name: str, path: str) -> pd.DataFrame:
    try:
        return compare.read_results(path)
    except (OSError, ValueError) as exc:
        p.error(f"argument {name}: {exc}")


def _write(p: argparse.ArgumentParser, name: str, path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        p.error(f"argument {name}: cannot write {path}: {exc.strerror or exc}")


def _compare(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    a, b = _read(p, "A", args.a), _read(p, "B", args.b)
    c = compare.compare(a, b, args.a, args.b, args.level)
    found = compare.verdicts(c, args.fail)
    sys.stdout.write(compare.render_text(c, found, gated=bool(args.fail)))
    if args.html:
        _write(p, "--html", args.html, compare.render_html(c, found, args.fail))
    differences = compare.exact_differences(a, b) if args.exact else []
    if args.exact:
        print(f"Exact check ({', '.join(compare.EXACT)}): "
              + (f"FAILED, {len(differences)} difference(s)" if differences else "B reproduces A"))
        print("".join(f"  {line}\n" for line in differences), end="")
    return 1 if differences or any(v.failed for v in found) else 0


def _history(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.action == "append":
        tables = [(path, _read(p, "RUN_DIR_OR_TABLE", path)) for path in args.runs]  # all readable before any write
        for path, df in tables:
            try:
                written = history.append(args.store, df)
            except OSError as exc:
                p.error(f"argument --store: cannot write to {args.store}: {exc.strerror or exc}")
            for file, n in written:
                print(f"{path}: {n} rows -> {file}")
        return 0
    try:
        text = history.render(args.store)
    except ValueError as exc:
        p.error(f"argument --store: {exc}")
    _write(p, "--out", args.out, text)
    print(f"wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's); the exit status."""
    p = parser()
    args = p.parse_args(argv)
    for name, page in (("--html", getattr(args, "html", None)), ("--out", getattr(args, "out", None))):
        if page is not None and not page.parent.is_dir():  # refused before any work or output
            p.error(f"argument {name}: cannot write {page}: no folder {page.parent}")
    return _compare(p, args) if args.command == "compare" else _history(p, args)


if __name__ == "__main__":
    sys.exit(main())
