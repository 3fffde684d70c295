"""The device tests reuse the runtime tests' small bundles (built once by `make runtime-models`)."""

from tests.runtime.conftest import image_bundle, models_dir, text_binary, text_topics  # noqa: F401 — fixtures
