"""Exporting a trained network to one ONNX file (writer.py), with the checks and
passes around it: BatchNorm calibration, the causality rule, parity against the
module, and tracing which module feeds which. Imports torch; the pure graph passes
live in mmzoo.graphs."""
