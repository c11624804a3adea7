"""ONNX graph passes, torch-free: folding BatchNorm out of an exported graph, and
building a generator file (the sampling loop as an ONNX Loop) from a step file."""
