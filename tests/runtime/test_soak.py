"""20 seconds of `make soak` (tools/soak.py) in a fresh process: 8 threads, every variant."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.runtime.conftest import REPO


@pytest.mark.slow
def test_soak_20_seconds(text_binary, image_bundle, tmp_path):
    out = tmp_path / "soak.json"
    done = subprocess.run([sys.executable, str(REPO / "tools" / "soak.py"), str(text_binary), str(image_bundle),
                           "--seconds", "20", "--warmup", "6", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["passed"] and result["threads"] == 8
    assert result["unexpected_count"] == 0 and result["mismatches"] == 0, result["unexpected"]
    assert result["valid"] > 100 and result["invalid"] > 100 and len(result["models"]) >= 4
    assert result["rss_growth_after_warmup_mb"] < 5.0, result["rss_mb"]
    assert len(result["rss_mb"]) >= 15
