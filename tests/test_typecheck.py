"""The type checker sees the package: a boundary error across ``creditrisk`` is caught."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PLANTED = """
from creditrisk.models.calibration import Calibrator
reveal_type(Calibrator("sigmoid"))
x: int = Calibrator("sigmoid")
"""


def test_mypy_resolves_creditrisk_and_fails_a_planted_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "-c", PLANTED],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    out = result.stdout + result.stderr
    # Without the mypy_path link, Calibrator would be Any and both lines below would vanish.
    assert 'Revealed type is "creditrisk.models.calibration.Calibrator"' in out, out
    assert 'expression has type "Calibrator", variable has type "int"' in out, out
    assert result.returncode == 1
