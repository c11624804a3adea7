"""mmzoo.runtime.onnx_schema declares the ONNX messages it reads by hand (so the torch-free
install needs no onnx package): its field numbers and kinds must be onnx's own."""

from __future__ import annotations

import onnx.onnx_ml_pb2 as onnx_pb

from mmzoo.runtime.onnx_schema import SCHEMA

NESTED = {"TypeTensor": onnx_pb.TypeProto.Tensor, "Dimension": onnx_pb.TensorShapeProto.Dimension}


def test_every_declared_field_has_onnx_number_and_kind() -> None:
    for message, fields in SCHEMA.items():
        descriptor = (NESTED.get(message) or getattr(onnx_pb, message)).DESCRIPTOR
        for name, number, kind, repeated, _ in fields:
            theirs = descriptor.fields_by_name[name]
            assert theirs.number == number, f"{message}.{name}"
            enum_as_int = theirs.type == theirs.TYPE_ENUM and kind == theirs.TYPE_INT32
            assert theirs.type == kind or enum_as_int, f"{message}.{name}"
            assert bool(theirs.is_repeated if hasattr(theirs, "is_repeated") else theirs.label == 3) == repeated
