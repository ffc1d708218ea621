"""Shared fixtures: the real-data folder, unpacked archives, synthetic DICOM series."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CALIPER_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; missing data fails the test in CI and skips it elsewhere."""
    if not SHARED_DATA.is_dir():
        message = f"real test data not found at {SHARED_DATA}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must have ../shared/data)")
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def unpacked(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """Unpack a ``.tar.xz`` from shared data once per session; returns its folder."""
    cache: dict[str, Path] = {}

    def get(relative: str) -> Path:
        if relative not in cache:
            out = tmp_path_factory.mktemp(Path(relative).name.split(".")[0])
            with tarfile.open(shared_data / relative) as tar:
                tar.extractall(out, filter="data")
            cache[relative] = out
        return cache[relative]

    return get


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample cohort, generated once per test session (``caliper sample --preview``)."""
    from pipelines.cli import main

    out = tmp_path_factory.mktemp("sample")
    assert main(["sample", str(out), "--preview"]) == 0
    return out
