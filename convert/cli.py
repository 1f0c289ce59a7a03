"""`edgeemo convert --int8`, `edgeemo drift` and `edgeemo edgetpu-check`."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeemo.bundled import DEFAULT_CALIBRATION, bundled, bundled_model
from edgeemo.cli_common import Formatter, Subcommands
from edgeemo.errors import EdgeemoError
from edgeemo.text import plural


def _add_convert(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "convert", formatter_class=Formatter, help="(prune and) convert a float model to full-int8 TFLite",
        description="Full-integer PTQ against a calibration set, then a float-vs-int8 drift gate on the float "
        "model's held-out validation split; the int8 model is written only if the gate passes.",
    )
    parser.add_argument("--int8", action="store_true", required=True, help="full-integer quantization (int8 in/out)")
    parser.add_argument("--model", type=Path, help="float .keras model; default: the bundled models/fer_cnn.keras")
    parser.add_argument("--calib", type=Path, help=f"calibration .npz; default: the bundled {DEFAULT_CALIBRATION}")
    parser.add_argument("--out", type=Path, help="output .tflite; default: <model>_int8.tflite beside the model")
    parser.add_argument("--data", help="the float model's training data (default: as recorded in its sidecar)")
    parser.add_argument("--votes", help="FER+ vote file of a FER+ model (default: as recorded in its sidecar)")
    parser.add_argument("--prune", type=float, metavar="SPARSITY", help="magnitude-prune to this sparsity first")
    parser.add_argument("--prune-epochs", type=int, default=2, help="fine-tuning epochs while pruning")
    parser.add_argument("--edgetpu", action="store_true", help="check Edge TPU compatibility and compile")
    parser.add_argument("--max-drop", type=float, default=1.0, help="drift gate: largest accuracy drop, points")
    parser.add_argument("--min-agreement", type=float, default=0.98, help="drift gate: smallest top-1 agreement")
    parser.add_argument("--qat", choices=("auto", "always", "never"), default="auto",
                        help="quantization-aware fine-tuning: auto = only when PTQ fails the drift gate")
    parser.add_argument("--qat-epochs", type=int, default=2, help="fine-tuning epochs for QAT")
    parser.add_argument("--force", action="store_true", help="write the model even if the drift gate fails")
    parser.set_defaults(handler=_run_convert, needs=("train",))


def _run_convert(args: argparse.Namespace) -> int:
    from edgeemo.convert.pipeline import ConvertOptions, convert_int8

    result = convert_int8(ConvertOptions(
        model=args.model or bundled_model("fer_cnn.keras"),
        calibration=args.calib or bundled("calibration", DEFAULT_CALIBRATION),
        out=args.out, data=args.data, votes=args.votes, prune_sparsity=args.prune, prune_epochs=args.prune_epochs,
        edgetpu=args.edgetpu, force=args.force, max_drop_pt=args.max_drop, min_agreement=args.min_agreement,
        qat=args.qat, qat_epochs=args.qat_epochs,
    ))
    drift = result.drift
    print(f"wrote {result.output} ({result.size_bytes / 1e6:.2f} MB, {result.gzip_bytes / 1e6:.2f} MB gzip'd; "
          f"{result.method.upper()})")
    if result.sparsity is not None and result.prune_gzip:
        before, after = result.prune_gzip
        print(f"pruning: sparsity {result.sparsity:.1%}; gzip'd weights {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB")
    verdict = "PASS" if drift.passed else "FAIL (forced)"
    print(f"drift gate {verdict}: float {drift.float_accuracy:.4f}, int8 {drift.int8_accuracy:.4f}, "
          f"drop {drift.accuracy_drop_pt:+.2f} pt, agreement {drift.agreement:.2%} on {drift.n} held-out faces "
          f"(report {result.drift_report})")
    if result.edgetpu:
        print(f"Edge TPU: {result.edgetpu.ops_on_tpu} ops mapped -> {result.edgetpu.output}")
    print("timings: " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()))
    return 0


def _add_drift(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "drift", formatter_class=Formatter, help="compare a float and an int8 model on labelled faces",
        description="Accuracy of both, top-1 agreement, per-class deltas, mean KL and the largest probability "
        "difference; exits 1 when a threshold is crossed.",
    )
    parser.add_argument("--float", dest="float_model", required=True, type=Path, help="float .keras or .tflite")
    parser.add_argument("--int8", dest="int8_model", required=True, type=Path, help="int8 .tflite")
    parser.add_argument("--data", required=True, help="labelled faces: Kaggle folder tree or fer2013.csv")
    parser.add_argument("--split", choices=("train", "test", "private"), default="test",
                        help="for a CSV: Training/PublicTest/PrivateTest rows; for a dataset root: the subfolder")
    parser.add_argument("--votes", type=Path, metavar="CSV", help="FER+ ferplus_votes.csv: FER+ majority labels")
    parser.add_argument("--max-drop", type=float, default=1.0, help="largest accuracy drop, points")
    parser.add_argument("--min-agreement", type=float, default=0.98, help="smallest top-1 agreement")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--out", type=Path, help="write drift.md and drift.json here")
    parser.set_defaults(handler=_run_drift, needs=("train",))


def _run_drift(args: argparse.Namespace) -> int:
    import json

    from edgeemo.convert.drift import compare, to_markdown, write_reports
    from edgeemo.train.data import load_faces
    from edgeemo.train.evaluate import predict_all
    from edgeemo.train.predictors import load_predictor

    float_predictor = load_predictor(args.float_model)
    int8_predictor = load_predictor(args.int8_model)
    if float_predictor.input_size != int8_predictor.input_size:
        raise EdgeemoError(f"{args.float_model} and {args.int8_model} take different input sizes")
    data = load_faces(args.data, args.split, float_predictor.input_size, args.votes).for_model(
        float_predictor.labels, args.float_model)
    p_float = predict_all(float_predictor, data.images, progress=not args.json)
    p_int8 = predict_all(int8_predictor, data.images, progress=not args.json)
    report = compare(data.labels, p_float, p_int8, float_predictor.labels, args.max_drop, args.min_agreement)
    title = f"{args.float_model.name} vs {args.int8_model.name} on {args.data} ({args.split})"
    if args.out:
        write_reports(report, title, args.out / "drift.md")
    print(json.dumps(report.to_dict()) if args.json else to_markdown(report, title))
    return 0 if report.passed else 1


def _add_edgetpu_check(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "edgetpu-check", formatter_class=Formatter, help="list what would keep a TFLite model off the Edge TPU",
        description="Reads the .tflite file itself: unsupported ops, non-8-bit tensors, dynamic shapes, more than "
        "three non-unit dimensions, several subgraphs. Exits 1 if anything is found.",
    )
    parser.add_argument("model", type=Path, help=".tflite model")
    parser.set_defaults(handler=_run_edgetpu_check)


def _run_edgetpu_check(args: argparse.Namespace) -> int:
    from edgeemo.convert.edgetpu import check_graph
    from edgeemo.convert.tflite_graph import read_tflite

    graph = read_tflite(args.model)
    findings = check_graph(graph)
    ops = sorted({op.name for op in graph.ops})
    print(f"{args.model}: {len(graph.ops)} ops ({', '.join(ops)}), {len(graph.tensors)} tensors")
    for finding in findings:
        print(f"  {finding}")
    print("Edge TPU compatible: " + ("yes" if not findings else f"no ({plural(len(findings), 'finding')})"))
    return 0 if not findings else 1


COMMANDS = (_add_convert, _add_drift, _add_edgetpu_check)
