"""Host against emulated device: the same variant on the same engine, x86-64 against every other
machine in the probe files. Prints a markdown table; exits 1 when another machine fails a variant
that runs on x86-64, or gives answers outside its tolerance (see runtime/compat/).

    python tools/device/compare_machines.py build/arm64/out/models-*.json
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from edgeport.runtime.compat.matrix import load_probes, machine_differences


def render_differences(differences: Sequence[dict[str, Any]]) -> str:
    lines = ["| bundle | variant | engine | machine | max abs Δ | tolerance | same classes | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for d in differences:
        diff = "-" if d["max_diff"] is None else f"{d['max_diff']:.1e}"
        verdict = "ok" if d["ok"] else "DIFFERS" if d["status"] == "runs" else f"FAILS ({d['status']}): {d['reason']}"
        lines.append(f"| {d['bundle']} | {d['variant']} | {d['engine']} | {d['machine']} | {diff} | "
                     f"{d['tolerance']:.1e} | {d['same_class']} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(paths: Sequence[str]) -> int:
    differences = machine_differences(load_probes(paths))
    print("### The same engine on the emulated device against x86-64\n")
    print(render_differences(differences) if differences else "(no variant was probed on two machines)\n")
    return 0 if differences and all(d["ok"] for d in differences) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
