"""Every worked example in ../shared/contracts/examples, through the library and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from imaging.errors import CaseValidationError
from imaging.recist import score
from pipelines.cli import main
from tests.conftest import SHARED_DATA

CONTRACTS = SHARED_DATA.parent / "contracts"
EXAMPLES = sorted((CONTRACTS / "examples").glob("*.case.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def schemas() -> tuple[dict, dict]:
    if not CONTRACTS.is_dir():
        pytest.fail(f"contracts not found at {CONTRACTS}")
    return (_load(CONTRACTS / "recist-case.schema.json"),
            _load(CONTRACTS / "recist-result.schema.json"))


def test_examples_exist():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name.split(".")[0] for p in EXAMPLES])
def test_example(path, schemas, capsys):
    case_schema, result_schema = schemas
    case = _load(path)
    expected = _load(path.with_name(path.name.replace(".case.", ".result.")))
    jsonschema.validate(case, case_schema)
    if "error" in expected:
        with pytest.raises(CaseValidationError):
            score(case)
        assert main(["recist", "score", str(path)]) == expected["error"]["exit_code"]
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert case["patient_id"] in err[0]
        return
    result = score(case)
    jsonschema.validate(result, result_schema)
    for key, value in expected.items():
        if key != "timepoints":
            assert result[key] == value, key
    assert len(result["timepoints"]) == len(expected["timepoints"])
    for got, want in zip(result["timepoints"], expected["timepoints"], strict=True):
        for key, value in want.items():
            assert got[key] == value, (want["date"], key)
    assert main(["recist", "score", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == result
