"""The compatibility matrix: which variant of a bundle runs on which engine and machine, and whether
it answers like the workstation. A tool beside the runtime's core; the core never imports it.

`probe` loads and runs variants here; `matrix` merges probes from several machines and renders them.
"""

from edgeport.runtime.alternatives import alternatives_text, runnable_variants
from edgeport.runtime.compat.probe import (
    add_arguments, cmd_compat, emulation, engine_version, main, probe_here, probe_inputs, probe_variant,
)

__all__ = ["add_arguments", "alternatives_text", "cmd_compat", "emulation", "engine_version", "main",
           "probe_here", "probe_inputs", "probe_variant", "runnable_variants"]
