"""The browser target: `edgeport-run web` writes a bundle as a static site (the preprocessing in one ES module,
the model on a pinned WebAssembly engine from npm) and checks its parity in headless Chromium.

Workstation-side tooling beside the device core: the core never imports it.
"""
