"""Phone targets: files beside a bundle's models for the engines apps embed (ONNX Runtime Mobile's `.ort`,
TFLite metadata for MediaPipe Tasks). Each target reads the bundle and the runtime's core; nothing in the
core or the variant loop depends on a target."""
