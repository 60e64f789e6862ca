import json

from gencoop.cli import main


def test_demo_writes_a_picture_and_metrics(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--steps", "30", "--flow", "realnvp"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 30 and metrics["test_nll"] == metrics["test_nll"]  # finite, not NaN
    png = (tmp_path / "samples.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_demo_bad_flow_name_exits_2(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--flow", "nope"]) == 2
    assert "no flow named 'nope'" in capsys.readouterr().err
