"""PACS retrieval speed: ``caliper fetch`` beside DCMTK's ``getscu`` (C++), both retrieving
the same real CT series with C-GET from a local Orthanc.

Series: LIDC-IDRI-0002 (261 slices of 512x512) from ``../shared/data``, uploaded to an
Orthanc started on free ports (``tests/orthanc.py``). Caliper's time is the whole verb:
the C-FIND queries (study, series, instances), the C-GET and the atomic writes; getscu's is
one C-GET of the series (``-k QueryRetrieveLevel=SERIES``), writing its files as they come.
Each run retrieves into an empty folder; the median of ``--repeat`` runs is printed.

Usage: python benchmarks/fetch_speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pydicom

from pipelines.cli import main as caliper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.orthanc import Orthanc

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _timed(run, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t = time.perf_counter()
    run(out)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    getscu = shutil.which("getscu")
    if getscu is None:
        sys.exit("getscu not found: apt-get install dcmtk")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with tarfile.open(SHARED / "lesions/lidc_idri_0002/LIDC-IDRI-0002.tar.xz") as tar:
            tar.extractall(tmp / "src", filter="data")
        files = sorted((tmp / "src").rglob("*.dcm"))
        first = pydicom.dcmread(files[0], stop_before_pixels=True)
        (tmp / "pacs").mkdir()
        server = Orthanc(tmp / "pacs")
        try:
            server.upload(files)
            mb = sum(f.stat().st_size for f in files) / 1e6

            def ours(out: Path) -> None:
                with contextlib.redirect_stdout(io.StringIO()):  # its JSON summary
                    code = caliper(["fetch", server.node(), str(out), "--study",
                                    first.StudyInstanceUID, "--quiet"])
                assert code == 0, code

            def peer(out: Path) -> None:
                subprocess.run([getscu, "-aet", "CALIPER", "-aec", "ORTHANC", "-od", str(out),
                                "-k", "QueryRetrieveLevel=SERIES",
                                "-k", f"StudyInstanceUID={first.StudyInstanceUID}",
                                "-k", f"SeriesInstanceUID={first.SeriesInstanceUID}",
                                "127.0.0.1", str(server.dicom_port)], check=True,
                               capture_output=True)
                assert len(list(out.iterdir())) == len(files)

            times = {"caliper fetch": [], "dcmtk getscu": []}
            for _ in range(args.repeat):
                times["caliper fetch"].append(_timed(ours, tmp / "ours"))
                times["dcmtk getscu"].append(_timed(peer, tmp / "peer"))
        finally:
            server.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"series: LIDC-IDRI-0002, {len(files)} instances, {mb:.0f} MB, C-GET from a local "
          f"Orthanc; median of {args.repeat}")
    for k, v in med.items():
        print(f"  {k:14s} {v:6.2f} s  ({mb / v:5.0f} MB/s)")
    print(f"  ratio caliper / getscu: {med['caliper fetch'] / med['dcmtk getscu']:.2f}")


if __name__ == "__main__":
    main()
