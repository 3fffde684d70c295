"""edgeport's export stage: a trained Keras bundle → TFLite and ONNX variants, each checked through `runtime`.

    from edgeport.export.bundle import export_bundle
    result = export_bundle("artifacts/imdb")        # all seven variants; manifest.json written last
    result.failed                                    # keys of variants that missed their tolerance

The variants and their tolerances are one table (`export.variants.VARIANTS`); one module per format
(`export.tflite`, `export.onnx`); calibration data is one protocol (`export.calibrate`); checks live in
`export.validate`, the report in `export.report`. `edgeport-export` / `python -m edgeport.export` is the CLI.

Any Keras model with samples exports the same way (`export.own`):

    from edgeport.export import export_model
    export_model(model, "samples.npz", "bundles/mine")  # samples: x (or x_<input name>) and optionally y
    export_model(model, "samples.npz", "bundles/mine", ModelDescription(labels=["cat", "dog"]),
                 ExportOptions(variants=["tflite-int8"]))  # what the bundle says of it; what is exported
"""

from typing import Any

from edgeport.runtime.native_stderr import install_quiet_tensorflow_import

install_quiet_tensorflow_import()


def __getattr__(name: str) -> Any:
    if name in ("export_model", "ModelDescription"):  # imported when used: `import edgeport.export` stays light
        from edgeport.export import own

        return getattr(own, name)
    if name == "ExportOptions":
        from edgeport.export.job import ExportOptions

        return ExportOptions
    raise AttributeError(f"module 'edgeport.export' has no attribute {name!r}")
