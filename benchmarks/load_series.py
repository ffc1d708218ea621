"""Series loading speed: Caliper beside SimpleITK's ImageSeriesReader (GDCM).

Caliper's time is the full load: discovery of the folder (headers only),
ordering along the slice normal and pixel decode into float32 HU.
SimpleITK's time is ``ImageSeriesReader`` given the already sorted file list
(``GetGDCMSeriesFileNames``, not timed), as most pipelines call it.

Series: the largest real series in ``../shared/data`` (LIDC-IDRI-0002,
261 slices) and a synthetic 512x512x600 series written on the fly.
Peak memory is measured with tracemalloc (numpy reports its buffers there)
and compared with the size of the volume in float32.

Usage: python benchmarks/load_series.py [--repeat N] [--slices N]
"""

from __future__ import annotations

import argparse
import statistics
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from imaging.io import discover, load_series
from imaging.io.dicom_writer import CTSeriesSpec, ct_slice_dataset, write_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def caliper_load(folder: Path) -> np.ndarray:
    inventory = discover(folder)
    series = max(inventory.series, key=lambda s: s.slices)
    return load_series(series).array


def sitk_load(files: list[str]) -> np.ndarray:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return sitk.GetArrayViewFromImage(reader.Execute())


def timed(fn, *args, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory(fn, *args) -> int:
    tracemalloc.start()
    result = fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return peak


def synthetic_series(folder: Path, slices: int) -> None:
    rng = np.random.default_rng(1)
    spec = CTSeriesSpec(patient_id="BENCH", pixel_spacing=(0.7, 0.7), slice_thickness=0.6)
    base = rng.integers(0, 2000, size=(512, 512), dtype=np.int16)
    order = rng.permutation(slices)
    for n, k in enumerate(order):
        ds = ct_slice_dataset(spec, np.roll(base, int(k), axis=0), (-180.0, -180.0, 0.6 * k),
                              n + 1)
        write_dataset(ds, folder / f"{rng.integers(1e12):012d}.dcm")


def compare(name: str, folder: Path, repeat: int) -> None:
    files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    caliper_load(folder)  # warm the page cache for both readers alike
    sitk_load(files)
    ours = timed(caliper_load, folder, repeat=repeat)
    peer = timed(sitk_load, files, repeat=repeat)
    shape = caliper_load(folder).shape
    float32_bytes = int(np.prod(shape)) * 4
    peak = peak_memory(caliper_load, folder)
    print(f"{name}: {shape[2]}x{shape[1]}x{shape[0]} voxels, {len(files)} files")
    print(f"  caliper (discover + sort + decode): {ours:7.3f} s")
    print(f"  SimpleITK ImageSeriesReader (sorted list given): {peer:7.3f} s")
    print(f"  ratio caliper / SimpleITK: {ours / peer:5.2f}  (goal <= 1.0)")
    print(f"  caliper peak memory: {peak / 2**20:7.1f} MiB = {peak / float32_bytes:4.2f} x the "
          f"float32 volume (goal <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slices", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = SHARED / "lesions/lidc_idri_0002/LIDC-IDRI-0002.tar.xz"
        if archive.is_file():
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            folder = next(Path(tmp).rglob("*.dcm")).parent
            compare("LIDC-IDRI-0002 (real, 261 slices)", folder, args.repeat)
        else:
            print(f"real data not found at {archive}; skipping the real series")
        synth = Path(tmp) / "synthetic"
        synthetic_series(synth, args.slices)
        compare(f"synthetic 512x512x{args.slices}", synth, args.repeat)


if __name__ == "__main__":
    main()
