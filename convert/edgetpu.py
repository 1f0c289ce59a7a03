"""Edge TPU: a compatibility check that reads the model itself, and the real compile step.

The check applies the Edge TPU's model requirements (g.co/coral/model-reqs): only supported
ops, 8-bit tensors (int32 only for constant biases), static shapes, activations with at
most three non-unit innermost dimensions, one subgraph. The compiler (`edgetpu_compiler`, x86-64
Debian/Ubuntu, from Coral's apt repository) runs when it is on PATH or named by
EDGEEMO_EDGETPU_COMPILER; without it nothing is faked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgeemo.convert.tflite_graph import TFLiteGraph, read_tflite
from edgeemo.errors import EdgeemoError

# Operations the Edge TPU compiler can map (Coral "Supported operations" table).
EDGETPU_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX",
    "SPACE_TO_DEPTH", "SPLIT", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH",
    "TRANSPOSE", "TRANSPOSE_CONV",
})
EIGHT_BIT = frozenset({"INT8", "UINT8"})
COMPILER_HELP = (
    "edgetpu_compiler is distributed only for x86-64 Debian/Ubuntu from Coral's apt repository "
    "(https://coral.ai/docs/edgetpu/compiler/: add packages.cloud.google.com/apt coral-edgetpu-stable, "
    "then apt-get install edgetpu-compiler); put it on PATH or set EDGEEMO_EDGETPU_COMPILER"
)


@dataclass
class Finding:
    kind: str  # "op", "dtype", "dynamic-shape", "rank", "subgraphs"
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.detail}"


def check_graph(graph: TFLiteGraph) -> list[Finding]:
    """Everything that would keep the model (or part of it) off the Edge TPU; empty when none."""
    findings: list[Finding] = []
    if graph.subgraphs != 1:
        findings.append(Finding("subgraphs", str(graph.path), f"{graph.subgraphs} subgraphs; the Edge TPU needs one"))
    for op in graph.ops:
        if op.name not in EDGETPU_OPS:
            findings.append(Finding("op", f"op {op.index} {op.name}", "not supported by the Edge TPU"))
    for tensor in graph.tensors:
        where = f"tensor {tensor.index} {tensor.name!r}"
        allowed = EIGHT_BIT | ({"INT32"} if tensor.constant else frozenset())
        if tensor.dtype not in allowed:
            findings.append(Finding("dtype", where, f"{tensor.dtype}; the Edge TPU needs 8-bit tensors "
                                    "(int32 only for constant biases)"))
        if any(d < 0 for d in tensor.shape_signature):
            findings.append(Finding("dynamic-shape", where, f"shape {list(tensor.shape_signature)} is dynamic"))
        # Filters are 4-D by nature; the limit is on the activations flowing between ops.
        if not tensor.constant and any(d != 1 for d in tensor.shape[:-3]):
            findings.append(Finding("rank", where, f"shape {list(tensor.shape)}: only the 3 innermost "
                                    "dimensions may be larger than 1"))
    return findings


def check_model(path: Path) -> list[Finding]:
    return check_graph(read_tflite(path))


@dataclass
class CompileResult:
    output: Path
    ops_on_tpu: int
    ops_on_cpu: int
    unmapped: list[tuple[str, int, str]] = field(default_factory=list)  # (op, count, reason)
    log: str = ""


OPERATOR_ROW = re.compile(r"^([A-Z][A-Z0-9_]*)\s+(\d+)\s+(\S.*?)\s*$")


def parse_compiler_output(stdout: str, operation_log: str = "") -> tuple[int, int, list[tuple[str, int, str]]]:
    """(ops on the Edge TPU, ops on the CPU, unmapped (op, count, reason)) from the compiler's output.

    The stdout carries the totals ("Number of operations that will run on Edge TPU: N";
    when everything maps it only prints "Total number of operations: N"); the operation log
    (`*_edgetpu.log`) or `-s` output carries the per-operator table.
    """
    def number(pattern: str) -> int | None:
        match = re.search(pattern, stdout)
        return int(match.group(1)) if match else None

    rows: list[tuple[str, int, str]] = []
    for text in (operation_log, stdout):
        in_table = False
        for line in text.splitlines():
            if re.match(r"^Operator\s+Count\s+Status", line):
                in_table, rows = True, []
                continue
            match = OPERATOR_ROW.match(line) if in_table else None
            if match:
                rows.append((match.group(1), int(match.group(2)), match.group(3)))
        if rows:
            break
    unmapped = [row for row in rows if row[2] != "Mapped to Edge TPU"]
    on_tpu = number(r"Number of operations that will run on Edge TPU:\s*(\d+)")
    on_cpu = number(r"Number of operations that will run on CPU:\s*(\d+)")
    total = number(r"Total number of operations:\s*(\d+)")
    if on_tpu is None:
        if total is None and not rows:
            raise EdgeemoError("edgetpu_compiler output has no operation counts; was the compile cut short?")
        on_cpu = sum(count for _, count, _ in unmapped)
        on_tpu = (total if total is not None else sum(count for _, count, _ in rows)) - on_cpu
    return on_tpu, on_cpu or 0, unmapped


def find_compiler() -> str | None:
    explicit = os.environ.get("EDGEEMO_EDGETPU_COMPILER")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("edgetpu_compiler")


def compile_for_edgetpu(model: Path, timeout_s: int = 600) -> CompileResult:
    """Run edgetpu_compiler on `model`; every op must map to the Edge TPU or this fails."""
    compiler = find_compiler()
    if compiler is None:
        raise EdgeemoError(f"{model}: Edge TPU compatibility check passed, but no compiler found. {COMPILER_HELP}")
    out_dir = model.parent
    try:
        done = subprocess.run([compiler, "-s", "-o", str(out_dir), str(model)], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EdgeemoError(f"{compiler}: could not run the Edge TPU compiler ({exc})") from exc
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise EdgeemoError(f"{compiler} failed on {model} (exit {done.returncode}): {last[0]}")
    output = out_dir / f"{model.stem}_edgetpu.tflite"
    log_path = out_dir / f"{model.stem}_edgetpu.log"
    operation_log = log_path.read_text() if log_path.exists() else ""
    on_tpu, on_cpu, unmapped = parse_compiler_output(done.stdout, operation_log)
    result = CompileResult(output, on_tpu, on_cpu, unmapped, done.stdout)
    if not output.is_file():
        raise EdgeemoError(f"{compiler} reported success but wrote no {output.name}")
    if on_cpu:
        details = "; ".join(f"{op} x{count}: {reason}" for op, count, reason in unmapped) or "see the compiler log"
        output.unlink()
        raise EdgeemoError(f"{model}: {on_cpu} op(s) would stay on the CPU ({details}); refusing a partly-mapped model")
    return result
