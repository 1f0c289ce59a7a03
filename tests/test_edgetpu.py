"""Edge TPU: the compiler-log parser on a recorded log, the compile step, the compatibility check."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeemo.convert.edgetpu import check_graph, compile_for_edgetpu, parse_compiler_output
from edgeemo.convert.tflite_graph import TensorInfo, TFLiteGraph, read_tflite
from edgeemo.errors import EdgeemoError

FIXTURES = Path(__file__).parent / "fixtures" / "edgetpu_compiler"
FAKE_COMPILER = FIXTURES / "fake_edgetpu_compiler"


def test_parser_reads_the_recorded_compiler_log() -> None:
    stdout = (FIXTURES / "efficientdet_stdout.txt").read_text()
    log = (FIXTURES / "efficientdet_edgetpu.log").read_text()
    on_tpu, on_cpu, unmapped = parse_compiler_output(stdout, log)
    assert (on_tpu, on_cpu) == (264, 3)
    assert [(op, count) for op, count, _ in unmapped] == [("CUSTOM", 1), ("DEQUANTIZE", 2)]
    assert unmapped[1][2] == "Operation is working on an unsupported data type"


def test_parser_derives_counts_from_the_table_when_totals_are_absent() -> None:
    log = (FIXTURES / "efficientdet_edgetpu.log").read_text()
    on_tpu, on_cpu, _ = parse_compiler_output("Total number of operations: 267\n", log)
    assert (on_tpu, on_cpu) == (264, 3)


def test_parser_rejects_output_without_counts() -> None:
    with pytest.raises(EdgeemoError, match="no operation counts"):
        parse_compiler_output("Segmentation fault\n")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    model = tmp_path / "m_int8.tflite"
    model.write_bytes(b"\x00" * 16)
    return model


def test_compile_with_fake_compiler_maps_everything(model_file: Path, monkeypatch) -> None:
    monkeypatch.setenv("EDGEEMO_EDGETPU_COMPILER", str(FAKE_COMPILER))
    result = compile_for_edgetpu(model_file)
    assert result.output == model_file.with_name("m_int8_edgetpu.tflite") and result.output.is_file()
    assert (result.ops_on_tpu, result.ops_on_cpu) == (12, 0)


def test_compile_refuses_ops_left_on_the_cpu(model_file: Path, monkeypatch) -> None:
    monkeypatch.setenv("EDGEEMO_EDGETPU_COMPILER", str(FAKE_COMPILER))
    monkeypatch.setenv("FAKE_EDGETPU_LOG", str(FIXTURES / "efficientdet_edgetpu.log"))
    with pytest.raises(EdgeemoError, match=r"3 op\(s\) would stay on the CPU.*DEQUANTIZE x2"):
        compile_for_edgetpu(model_file)
    assert not model_file.with_name("m_int8_edgetpu.tflite").exists()


def test_without_a_compiler_the_error_says_where_to_get_it(model_file: Path, monkeypatch) -> None:
    monkeypatch.delenv("EDGEEMO_EDGETPU_COMPILER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EdgeemoError, match="compatibility check passed.*apt"):
        compile_for_edgetpu(model_file)
    assert not model_file.with_name("m_int8_edgetpu.tflite").exists()


def _graph(tensors: list[TensorInfo], op_names: list[str], subgraphs: int = 1) -> TFLiteGraph:
    from edgeemo.convert.tflite_graph import OpInfo

    ops = [OpInfo(i, name, 1, (), ()) for i, name in enumerate(op_names)]
    return TFLiteGraph(Path("m.tflite"), subgraphs, ops, tensors, (0,), (len(tensors) - 1,))


def test_check_lists_every_problem() -> None:
    tensors = [
        TensorInfo(0, "in", "INT8", (1, 48, 48, 1), (-1, 48, 48, 1), False),
        TensorInfo(1, "weights", "INT8", (32, 3, 3, 1), (32, 3, 3, 1), True),
        TensorInfo(2, "bias", "INT32", (32,), (32,), True),
        TensorInfo(3, "act", "FLOAT32", (1, 48, 48, 32), (1, 48, 48, 32), False),
        TensorInfo(4, "five_d", "INT8", (2, 1, 4, 4, 4), (2, 1, 4, 4, 4), False),
    ]
    findings = check_graph(_graph(tensors, ["CONV_2D", "CUSTOM:TFLite_Detection_PostProcess", "EXP"], 2))
    assert sorted((f.kind, f.where) for f in findings) == [
        ("dtype", "tensor 3 'act'"),
        ("dynamic-shape", "tensor 0 'in'"),
        ("op", "op 1 CUSTOM:TFLite_Detection_PostProcess"),
        ("op", "op 2 EXP"),
        ("rank", "tensor 4 'five_d'"),
        ("subgraphs", "m.tflite"),
    ]  # int8 weights and the int32 constant bias are fine


@pytest.mark.parametrize("content", [b"<!DOCTYPE html><html>", b"\x1c\x00\x00\x00TFL3" + b"\x00" * 4])
def test_read_tflite_refuses_non_models(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(EdgeemoError, match="bad.tflite"):
        read_tflite(path)


def test_a_compiler_that_fails_is_one_line_naming_its_last_words(model_file: Path, tmp_path: Path,
                                                                 monkeypatch) -> None:
    broken = tmp_path / "broken_edgetpu_compiler"  # FAKE compiler: crashes the way a real one can
    broken.write_text("#!/bin/sh\necho 'Edge TPU Compiler version 16.0'\necho 'Internal compiler error. Aborting!' >&2\n"
                      "exit 134\n")
    broken.chmod(0o755)
    monkeypatch.setenv("EDGEEMO_EDGETPU_COMPILER", str(broken))
    with pytest.raises(EdgeemoError, match=r"failed on .*m_int8.tflite \(exit 134\): Internal compiler error"):
        compile_for_edgetpu(model_file)
    assert not model_file.with_name("m_int8_edgetpu.tflite").exists()
