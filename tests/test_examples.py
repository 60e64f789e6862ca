"""The examples run (in their smoke modes) and write their pictures."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs_in_smoke_mode(script, tmp_path):
    out = tmp_path / "picture.png"
    run = subprocess.run([sys.executable, str(EXAMPLES / script), "--smoke", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.read_bytes()[:4] == b"\x89PNG"
