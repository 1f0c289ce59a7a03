"""Read a .tflite flatbuffer's ops and tensors directly (no interpreter, no TensorFlow needed)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from edgeemo.errors import EdgeemoError

SCHEMA_MODULES = ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated")


def _schema() -> ModuleType:
    for name in SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise EdgeemoError("reading .tflite files needs ai-edge-litert (pip install 'edgeemo[edge]')")


@dataclass
class TensorInfo:
    index: int
    name: str
    dtype: str  # schema name: INT8, UINT8, INT32, FLOAT32, ...
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 marks a dynamic dimension
    constant: bool  # backed by a buffer (weights, biases)


@dataclass
class OpInfo:
    index: int
    name: str  # builtin name such as CONV_2D, or CUSTOM:<code>
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass
class TFLiteGraph:
    path: Path
    subgraphs: int
    ops: list[OpInfo]
    tensors: list[TensorInfo]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def read_tflite(path: Path) -> TFLiteGraph:
    """The first subgraph's ops and tensors; a file that is not a TFLite model is an error."""
    try:
        buffer = path.read_bytes()
    except OSError as exc:
        raise EdgeemoError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(buffer) < 8 or buffer[4:8] != b"TFL3":
        raise EdgeemoError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier)")
    schema = _schema()
    try:
        model = schema.ModelT.InitFromPackedBuf(buffer, 0)
    except Exception as exc:  # a truncated flatbuffer fails in many ways, all meaning the same
        raise EdgeemoError(f"{path}: corrupt TFLite model ({type(exc).__name__})") from exc
    op_names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    type_names = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    subgraph = model.subgraphs[0]
    ops = []
    for index, op in enumerate(subgraph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
            name = f"CUSTOM:{custom}"
        ops.append(OpInfo(index, name, code.version, tuple(op.inputs), tuple(op.outputs)))
    tensors = []
    for index, tensor in enumerate(subgraph.tensors or []):
        shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
        signature = tuple(int(d) for d in tensor.shapeSignature) if tensor.shapeSignature is not None else shape
        data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers or []) else None
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
        tensors.append(TensorInfo(index, name, type_names.get(tensor.type, str(tensor.type)), shape, signature,
                                  data is not None and len(data) > 0))
    return TFLiteGraph(path, len(model.subgraphs), ops, tensors, tuple(subgraph.inputs), tuple(subgraph.outputs))
