"""A tensor-only bundle (a model exported without preprocessing: two inputs, a softmax and a regression output)
loads and runs on the device's engines, refuses raw items with a message naming the calls to use, and its
golden samples replay within their tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime.errors import EngineUnsupportedError, UsageError
from edgeport.runtime.golden import golden_file, read_golden
from edgeport.runtime.manifest import read_manifest
from edgeport.runtime.variants import KEYS


@pytest.fixture(scope="session")
def own_two_input(models_dir):
    return models_dir / "own_two_input"


def keras_names(specs, data) -> dict[str, np.ndarray]:
    """Feeds by the engine's input names (`serving_default_tokens:0` or `tokens`) from the Keras names."""
    return {s.name: data["x_" + s.name.split(":")[0].removeprefix("serving_default_")] for s in specs}


@pytest.mark.parametrize("variant", ["tflite-fp32", "tflite-dynamic-int8", "onnx-fp32"])
def test_tensor_bundle_runs_and_says_it_takes_tensors_only(own_two_input, variant):
    data = np.load(own_two_input / "expected.npz")
    model = runtime.load(own_two_input, variant=variant)
    assert model.manifest.kind == "tensor" and model.info()["input"] == "tensors only"
    out = model.predict_tensor(keras_names(model.input_specs, data))
    by_width = {y.shape[1]: y for y in out.values()}
    fp32, scale = variant.endswith("fp32"), max(1.0, float(np.abs(data["score"]).max()))
    np.testing.assert_allclose(by_width[3], data["topic"], atol=1e-5 if fp32 else 0.1)  # export's own bounds
    np.testing.assert_allclose(by_width[1], data["score"], atol=(1e-4 if fp32 else 0.1) * scale)
    with pytest.raises(UsageError, match="tensor-only bundle.*predict_tensor\\(\\) or run\\(\\)"):
        model.predict(["a text"])


def test_golden_samples_replay_on_this_engine(own_two_input):
    manifest = read_manifest(own_two_input)
    for artifact in manifest.artifacts:
        path = golden_file(artifact.key)
        assert manifest.file_entry(path) is not None
        golden = read_golden((own_two_input / path).read_bytes(), path)
        try:
            model = runtime.load(own_two_input, variant=artifact.key)
        except EngineUnsupportedError:  # tflite-runtime 2.14 and some int8 kernels: verify reports it
            continue
        got = model.run(golden.inputs)
        for name, stored in golden.outputs.items():
            assert np.abs(got[name] - stored).max() <= golden.atol, (artifact.key, name)


def test_verify_passes_on_the_bundle_export_wrote(own_two_input, capsys):
    """`edgeport-run verify` on export's own golden samples: every variant this engine runs matches, and the
    exit status is 0 exactly when all of them do (tflite-runtime 2.14 may not run a dynamic-range model)."""
    from edgeport.runtime import cli
    from edgeport.runtime.verify import CANNOT_RUN, MATCHES, verify_bundle

    checks = {c.variant: c for c in verify_bundle(own_two_input)}
    assert set(checks) == set(KEYS)  # all seven, each with its golden samples
    for key in ("tflite-fp32", "onnx-fp32"):
        assert checks[key].verdict == MATCHES and checks[key].samples >= 2, checks[key]
    assert all(c.verdict in (MATCHES, CANNOT_RUN) for c in checks.values()), checks
    code = cli.main(["verify", str(own_two_input)])
    assert (code == 0) == all(c.verdict == MATCHES for c in checks.values()), capsys.readouterr().out


def test_bench_says_a_tensor_only_bundle_is_not_its_kind(own_two_input, capsys):
    from edgeport.runtime import cli

    code = cli.main(["bench", str(own_two_input), "--variants", "tflite-fp32", "--no-keras", "--no-report"])
    assert code == 2
    assert "tensor-only bundle" in capsys.readouterr().err


def test_predict_on_the_command_line_says_the_bundle_takes_tensors(own_two_input, capsys):
    from edgeport.runtime import cli

    assert cli.main(["predict", str(own_two_input), "a text"]) == 2
    assert "tensor-only bundle" in capsys.readouterr().err
