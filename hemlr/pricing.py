"""Pricing: predicted seconds of operation counts at the costs of a microbenchmark table.

Pure arithmetic on two tables (a cost table of hemlr.microbenchmark, the
``ops_by_level`` counts of the results table): the report prices with it, so it imports
nothing from the backends or the training code.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hemlr import columns as col

#: the wall time of one forked parallel_map of map_workers items (row kind of a cost table),
#: with the operations it ran (column ``ops``, ops_by_level JSON): its fixed cost is that
#: wall time less those operations' price
MAP_WALL = "map_wall"
#: the fixed cost itself, as tables measured before MAP_WALL rows existed stored it
MAP_OVERHEAD = "map_overhead"
#: phases that make up the server's time of an iteration
SERVER_PHASES = ("iteration", "refresh", "bootstrap")
#: relative error beyond which the report flags a prediction
TOLERANCE = 0.25
PREDICTED = "predicted_server_s"


def _costs(table: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """kind -> (measured levels, seconds), levels ascending."""
    return {kind: (g["level"].to_numpy(float), g["seconds"].to_numpy(float))
            for kind, g in table.sort_values("level").groupby("kind")}


def map_overheads(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(levels, seconds), levels ascending: the fixed cost of one forked parallel_map by its
    results' level, what its measured wall time (MAP_WALL rows) exceeds the price of the
    operations it ran; at least 0. Older tables stored it directly (MAP_OVERHEAD rows)."""
    walls = table[table["kind"] == MAP_WALL]
    if walls.empty:
        stored = table[table["kind"] == MAP_OVERHEAD].sort_values("level")
        return stored["level"].to_numpy(float), stored["seconds"].to_numpy(float)
    priced = table[~table["kind"].isin((MAP_WALL, MAP_OVERHEAD))]
    walls = walls.sort_values("level")
    extra = [max(0.0, row.seconds - predict(row.ops, priced, row.processes)) for row in walls.itertuples()]
    return walls["level"].to_numpy(float), np.array(extra)


def predict(ops_by_level: Mapping[col.OpsKey, int] | str, table: pd.DataFrame, workers: int | None = None) -> float:
    """Predicted seconds of the operations ``ops_by_level`` (a LevelKey mapping, or an
    ``ops_by_level`` cell of the results table) at the costs of ``table`` (microbenchmark's).

    The sum over operations of count x the kind's cost at the input's level, linearly
    interpolated between measured levels and held constant beyond them. The items of a
    parallel_map of width m run on ``workers`` processes (default: the table's map_workers)
    in rounds: m // workers full rounds, then one of the rest. An operation of a round of
    several items costs what the table measured in concurrent processes (its rows with
    processes > 1; this machine's contention is assumed for other process counts, and
    without such rows the single-process cost), one alone what it measured alone. So each
    of the map's operations costs (m // w x concurrent + [m % w > 1] x concurrent
    + [m % w = 1] x alone) / m. When such a map forks (workers > 1, m > 1), each result adds
    a serialization there (spread likewise) and a deserialization here, and the map its fixed
    cost at its results' level (:func:`map_overheads`: forking, fresh workers' first touch of
    memory, teardown; 0 where the table has none). Assumes equal items. Raises ValueError naming the
    kinds the table has no cost for.
    """
    ops = col.ops_from_json(ops_by_level) if isinstance(ops_by_level, str) else ops_by_level
    w = int(workers or table["map_workers"].iloc[0])
    # tables cached before the concurrent timing existed were measured alone
    processes = table["processes"] if "processes" in table else pd.Series(1, index=table.index)
    overheads = map_overheads(table)
    table = table[~table["kind"].isin((MAP_WALL, MAP_OVERHEAD))]
    processes = processes[table.index]
    alone, together = _costs(table[processes == 1]), _costs(table[processes > 1])
    forks = w > 1
    crossing = forks and any(kind == "map_result" and width > 1 for kind, _, width in ops)
    needed = {kind for kind, _, _ in ops if kind != "map_result"}
    needed |= {"serialize", "deserialize"} if crossing else set()
    missing = needed - set(alone)
    if missing:
        raise ValueError(f"the cost table ({table['library'].iloc[0]}, levels "
                         f"{table['level'].min()}..{table['level'].max()}) has no cost for {sorted(missing)}")

    def at(kind: str, level: int, width: int = 1) -> float:
        """Cost of one of a map's ``width`` items' operation, per item (see above)."""
        if not forks or width == 1:
            return float(np.interp(level, *alone[kind]))
        concurrent = float(np.interp(level, *together.get(kind, alone[kind])))
        full, rest = divmod(width, w)
        last = 0.0 if rest == 0 else concurrent if rest > 1 else float(np.interp(level, *alone[kind]))
        return (full * concurrent + last) / width

    total = 0.0
    for (kind, level, width), n in ops.items():
        if kind != "map_result":
            total += n * at(kind, level, width)
        elif forks and width > 1:
            # n / width maps of width results each, each with its fixed cost where measured
            overhead = float(np.interp(level, *overheads)) if len(overheads[0]) else 0.0
            total += n * (at("serialize", level, width) + at("deserialize", level) + overhead / width)
    return total


def server_seconds(df: pd.DataFrame) -> pd.Series:
    """Measured server seconds of each row: the wall time of its SERVER_PHASES."""
    return sum(df[col.wall(p)].fillna(0.0) for p in SERVER_PHASES if col.wall(p) in df)


def with_predictions(df: pd.DataFrame, tables: Mapping[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """``df`` with a PREDICTED column: each row's server seconds from its ops_by_level at the
    costs of its job's table (``tables``: (workload, backend) -> microbenchmark table); NaN
    for jobs without a table and rows without by-level counts."""
    counts = df[col.OPS_BY_LEVEL] if col.OPS_BY_LEVEL in df else pd.Series(None, index=df.index, dtype=object)
    predicted = [predict(c, tables[w, b]) if (w, b) in tables and isinstance(c, str) and c != "[]" else np.nan
                 for w, b, c in zip(df["workload"], df["backend"], counts)]
    return df.assign(**{PREDICTED: predicted})
