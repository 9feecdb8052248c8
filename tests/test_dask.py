"""analyze --scheduler: the per-file analysis on a real Dask cluster (LocalCluster, worker
processes on loopback), row for row the same as a local run, and the provenance says where."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.examples import EXAMPLES, STEADY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    # two worker processes (spawned, as on a real cluster), one thread each, no dashboard
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as c:
        yield c


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    (root / "site b").mkdir()
    for i, path in enumerate(EXAMPLES.values()):
        shutil.copy(path, (root / "site b" if i else root) / path.name)
    from nmt_monitor.storage import open_session

    s = open_session(STEADY)
    np.savetxt(root / "plain.csv", np.c_[s.time_s, s.force_n], delimiter=",", header="time_s,force_N",
               comments="", fmt="%.4f")
    return root


def analyze(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nmt_monitor", "analyze", *map(str, args)], capture_output=True,
                          text=True, timeout=180, cwd=cwd)


def main(capsys, *args) -> tuple[int, str, str]:
    from nmt_monitor.cli import main as cli_main

    code = cli_main(["analyze", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_on_a_cluster_gives_the_local_rows_and_says_where_it_ran(cluster, folder, tmp_path, capsys,
                                                                          monkeypatch):
    address = cluster.scheduler_address
    bad = folder / "site b" / "broken.csv"
    bad.write_text("time_s,force_N\n0,1\n0.1,abc\n")
    try:
        prov = tmp_path / "prov.json"
        # relative names, as a user types them: the workers look them up in our folder
        remote = analyze(".", "--csv", "--scheduler", address, "--provenance", prov, cwd=folder)
        monkeypatch.chdir(folder)
        local_code, local_out, local_err = main(capsys, ".", "--csv", "--jobs", "1")
    finally:
        bad.unlink()
    assert remote.returncode == local_code == 1, remote.stderr  # one file skipped, the others used
    assert remote.stdout == local_out  # row for row
    rows = list(csv.DictReader(io.StringIO(remote.stdout)))
    assert len({r["source"] for r in rows}) == 4 and rows[0]["source"].startswith("./")
    assert remote.stderr.splitlines()[0] == local_err.splitlines()[0]
    assert "./site b/broken.csv" in remote.stderr and "line 3" in remote.stderr and "Traceback" not in remote.stderr
    doc = json.loads(prov.read_text())
    workers = set(cluster.scheduler_info["workers"])
    assert doc["executor"]["kind"] == "dask" and doc["executor"]["scheduler"] == address
    assert set(doc["executor"]["workers"]) == workers
    assert all(i["ran_on"].split(" ")[0] in workers for i in doc["inputs"])  # each file read by a worker
    assert [i["source"] for i in doc["inputs"]] == sorted({r["source"] for r in rows}, key=[
        r["source"] for r in rows].index)
    assert doc["skipped"][0]["source"] == "./site b/broken.csv"


def test_holds_table_on_a_cluster_equals_the_local_table(cluster, folder):
    import pandas as pd

    from nmt_monitor import research as R

    remote = R.holds_table([folder], scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(remote, R.holds_table([folder], jobs=1))
    assert remote.attrs["provenance"]["executor"]["kind"] == "dask"


def test_cluster_problems_are_one_line(cluster, folder, capsys):
    from nmt_monitor.errors import UserError
    from nmt_monitor.research import DaskExecutor

    code, out, err = main(capsys, folder / "missing.h5", "--csv", "--scheduler", cluster.scheduler_address)
    assert code == 2 and out == "" and err.strip().endswith("missing.h5: no such file")  # checked on a worker
    assert len(err.splitlines()) == 1
    code, out, err = main(capsys, folder, "--csv", "--scheduler", "http://nowhere")
    assert code == 2 and "not a scheduler address" in err and len(err.splitlines()) == 1
    with pytest.raises(UserError, match=r"^--scheduler tcp://127\.0\.0\.1:9: cannot connect"):
        DaskExecutor("tcp://127.0.0.1:9", timeout_s=1)
