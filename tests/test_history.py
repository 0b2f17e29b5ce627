"""hemlr.history and ``hemlr history``: the store's partitions, atomic and idempotent appends
(two processes appending at once lose nothing), and the offline index page."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hemlr import history
from hemlr.cli import main
from tests.offline_html import external_references
from tests.test_compare import TENSEAL, run

REPO = Path(__file__).resolve().parents[1]


def nightly(day: int, commit: str, hostname: str = "testhost", cpus: int = 2, seconds: float = 3.0) -> pd.DataFrame:
    """The run "nightly" of one day: plaintext and tenseal, 3 repeats each."""
    return run("nightly", {"plaintext": [0.01, 0.011, 0.012], TENSEAL: [seconds, seconds * 1.02, seconds * 0.99]},
               git_commit=commit, hostname=hostname, cpu_count=cpus, timestamp=f"2026-01-{day:02d}T03:00:00+00:00")


def test_append_partitions_by_machine_commit_and_run(tmp_path: Path):
    df = pd.concat([nightly(1, "aaaa1111"), nightly(2, "bbbb2222").assign(run="other")], ignore_index=True)
    written = history.append(tmp_path, df)
    machine = history.fingerprint("testhost", "Test CPU @ 2.0GHz", 2)
    assert [(f.parent.relative_to(tmp_path).as_posix(), n) for f, n in written] == [
        (f"machine={machine}/commit=aaaa1111/run=nightly", 12), (f"machine={machine}/commit=bbbb2222/run=other", 12)]
    stored = history.load(tmp_path)
    assert len(stored) == len(df) and set(stored[history.MACHINE]) == {machine}
    same = ["run", "git_commit", "backend", "repeat", "iteration", "time_iteration_s", "test_accuracy", "timestamp"]
    pd.testing.assert_frame_equal(stored[same], df[same])


def test_machines_differ_by_host_cpu_and_cpu_count():
    one = history.fingerprint("host", "CPU", 2)
    assert one == history.fingerprint("host", "CPU", 2.0) == history.fingerprint("host", "CPU", "2")
    assert history.fingerprint("host", "CPU", None) == history.fingerprint("host", "CPU", float("nan"))
    assert len({one, history.fingerprint("host", "CPU", 4), history.fingerprint("other", "CPU", 2),
                history.fingerprint("host", "CPU2", 2)}) == 4


def test_the_same_rows_twice_are_stored_once(tmp_path: Path):
    df = nightly(1, "aaaa1111")
    assert history.append(tmp_path, df) == history.append(tmp_path, df)
    assert len(history.files(tmp_path)) == 1 and len(history.load(tmp_path)) == len(df)
    history.append(tmp_path, nightly(2, "aaaa1111"))  # the same run again, another day: kept
    assert len(history.files(tmp_path)) == 2


CHILD = """
import pathlib, sys, time
import pandas as pd
from hemlr import history
store, ready, go, *tables = sys.argv[1:]
frames = [pd.read_parquet(t) for t in tables]
pathlib.Path(ready).touch()
while not pathlib.Path(go).exists():
    time.sleep(0.001)
for frame in frames:
    history.append(store, frame)
"""


def test_two_processes_appending_at_once_lose_no_rows(tmp_path: Path):
    """Both write into one partition (one machine, commit and run) at the same moment."""
    store, go = tmp_path / "store", tmp_path / "go"
    tables = []
    for i in range(40):
        path = tmp_path / f"t{i}.parquet"
        nightly(1 + i % 28, "aaaa1111", seconds=3.0 + i).to_parquet(path, index=False)
        tables.append(str(path))
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(store), str(tmp_path / f"ready{k}"), str(go),
                                  *tables[k::2]], cwd=REPO) for k in range(2)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{k}").exists() for k in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    (partition,) = {f.parent for f in history.files(store)}
    assert len(history.files(store)) == 40 and list(partition.glob(".tmp-*")) == []
    stored = history.load(store)  # every file whole: each reads
    assert len(stored) == 40 * 12
    assert sorted(stored.groupby(history.STORED_AS)["time_iteration_s"].max()) == sorted(
        pd.read_parquet(t)["time_iteration_s"].max() for t in tables)


def test_append_and_render_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture):
    store, page = tmp_path / "store", tmp_path / "history.html"
    (tmp_path / "run1").mkdir()
    nightly(1, "aaaa1111").to_parquet(tmp_path / "run1" / "results.parquet", index=False)
    nightly(2, "bbbb2222+dirty", seconds=4.5).to_csv(tmp_path / "run2.csv", index=False)
    nightly(2, "aaaa1111", hostname="<b>big</b>", cpus=64, seconds=1.0).to_parquet(tmp_path / "run3.parquet")
    args = [str(tmp_path / "run1"), str(tmp_path / "run2.csv"), str(tmp_path / "run3.parquet")]
    assert main(["history", "append", *args, "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.count(" 12 rows -> ") == 3 and "commit=bbbb2222+dirty" in out
    assert main(["history", "render", "--out", str(page), "--store", str(store)]) == 0
    html = page.read_text()
    assert external_references(html) == []
    assert html.count('<img src="data:image/png;base64,') == 2  # one figure per machine
    assert "<b>big</b>" not in html and "&lt;b&gt;big&lt;/b&gt;" in html
    assert "36 rows of 3 stored runs, 2 commits, 2 machines" in html
    # runs over time per job, oldest first, with their commit and median server time
    assert html.index("2026-01-01 03:00") < html.index("2026-01-02 03:00")
    assert "<td>bbbb2222+dirty</td><td>3</td><td>4.5</td>" in html


def test_render_of_an_empty_store_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exited:
        main(["history", "render", "--out", str(tmp_path / "h.html"), "--store", str(tmp_path / "none")])
    assert exited.value.code == 2 and "no results stored" in capsys.readouterr().err
    assert not (tmp_path / "h.html").exists()
