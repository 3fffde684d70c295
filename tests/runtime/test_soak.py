"""20 seconds of `make soak` (runtime/bench/soak.py) in a fresh process: 8 threads, every variant."""

from __future__ import annotations

import json

from tests.runtime.conftest import REPO, run_python


def test_soak_20_seconds(text_binary, image_bundle, tmp_path):
    out = tmp_path / "soak.json"
    done = run_python("from edgeport.runtime.bench.soak import main; raise SystemExit(main())", str(text_binary),
                      str(image_bundle), "--seconds", "20", "--warmup", "6", "--json", str(out), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["unexpected_count"] == 0 and result["mismatches"] == 0, result["unexpected"]
    assert result["valid"] > 100 and result["invalid"] > 100 and len(result["models"]) >= 4
    assert result["rss_growth_after_warmup_mb"] < 5.0, result["rss_mb"]
    assert len(result["rss_mb"]) >= 15 and REPO.is_dir()
