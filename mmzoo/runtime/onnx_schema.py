"""The few ONNX protobuf messages mmzoo reads, declared here so that checking a
file needs neither the onnx package nor its import time: onnxruntime already
brings protobuf, so the torch-free install can check files as the full one does.

Field numbers are onnx-ml.proto's (a test compares them with the onnx package's
own). Fields left out are kept by protobuf as unknown fields and never read.
"""

from __future__ import annotations

import functools
from typing import Any

# message -> [(field, number, kind, repeated, message type)], kind as in FieldDescriptorProto
_STRING, _INT32, _INT64, _MESSAGE, _FLOAT, _BYTES = 9, 5, 3, 11, 2, 12
SCHEMA: dict[str, list[tuple[str, int, int, bool, str]]] = {
    "ModelProto": [
        ("graph", 7, _MESSAGE, False, "GraphProto"),
        ("metadata_props", 14, _MESSAGE, True, "StringStringEntryProto"),
        ("functions", 25, _MESSAGE, True, "FunctionProto"),
    ],
    "StringStringEntryProto": [("key", 1, _STRING, False, ""), ("value", 2, _STRING, False, "")],
    "GraphProto": [
        ("node", 1, _MESSAGE, True, "NodeProto"),
        ("initializer", 5, _MESSAGE, True, "TensorProto"),
        ("input", 11, _MESSAGE, True, "ValueInfoProto"),
        ("output", 12, _MESSAGE, True, "ValueInfoProto"),
        ("sparse_initializer", 15, _MESSAGE, True, "SparseTensorProto"),
    ],
    "NodeProto": [
        ("input", 1, _STRING, True, ""),
        ("output", 2, _STRING, True, ""),
        ("name", 3, _STRING, False, ""),
        ("op_type", 4, _STRING, False, ""),
        ("attribute", 5, _MESSAGE, True, "AttributeProto"),
    ],
    "AttributeProto": [
        ("name", 1, _STRING, False, ""),
        ("i", 3, _INT64, False, ""),
        ("ints", 8, _INT64, True, ""),
        ("t", 5, _MESSAGE, False, "TensorProto"),
        ("g", 6, _MESSAGE, False, "GraphProto"),
        ("tensors", 10, _MESSAGE, True, "TensorProto"),
        ("graphs", 11, _MESSAGE, True, "GraphProto"),
        ("sparse_tensor", 22, _MESSAGE, False, "SparseTensorProto"),
        ("sparse_tensors", 23, _MESSAGE, True, "SparseTensorProto"),
    ],
    "TensorProto": [
        ("dims", 1, _INT64, True, ""),
        ("data_type", 2, _INT32, False, ""),
        ("float_data", 4, _FLOAT, True, ""),
        ("int32_data", 5, _INT32, True, ""),
        ("int64_data", 7, _INT64, True, ""),
        ("name", 8, _STRING, False, ""),
        ("raw_data", 9, _BYTES, False, ""),
        ("external_data", 13, _MESSAGE, True, "StringStringEntryProto"),
        ("data_location", 14, _INT32, False, ""),  # an enum in onnx: the same varint on the wire
    ],
    "SparseTensorProto": [
        ("values", 1, _MESSAGE, False, "TensorProto"),
        ("indices", 2, _MESSAGE, False, "TensorProto"),
    ],
    "FunctionProto": [("node", 7, _MESSAGE, True, "NodeProto")],
    "ValueInfoProto": [("name", 1, _STRING, False, ""), ("type", 2, _MESSAGE, False, "TypeProto")],
    "TypeProto": [("tensor_type", 1, _MESSAGE, False, "TypeTensor")],
    "TypeTensor": [("elem_type", 1, _INT32, False, ""), ("shape", 2, _MESSAGE, False, "TensorShapeProto")],
    "TensorShapeProto": [("dim", 1, _MESSAGE, True, "Dimension")],
    "Dimension": [("dim_value", 1, _INT64, False, ""), ("dim_param", 2, _STRING, False, "")],
}
PACKAGE = "mmzoo_onnx_subset"


@functools.lru_cache(maxsize=1)
def model_proto_class() -> Any:
    """The ModelProto class of this subset, built once in a private descriptor pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(name=f"{PACKAGE}.proto", package=PACKAGE, syntax="proto2")
    for message, fields in SCHEMA.items():
        proto = file.message_type.add(name=message)
        for name, number, kind, repeated, type_name in fields:
            field = proto.field.add(name=name, number=number, type=kind)
            field.label = field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL
            if type_name:
                field.type_name = f".{PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.ModelProto"))
