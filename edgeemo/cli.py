"""The `edgeemo` command: argparse subcommands, each importing its heavy stage lazily.

Errors the user can fix (`EdgeemoError`) print one line and exit non-zero, no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from edgeemo import __version__
from edgeemo.errors import EdgeemoError

REPO_ROOT = Path(__file__).resolve().parent.parent
Formatter = argparse.ArgumentDefaultsHelpFormatter
DEFAULT_CALIBRATION = "fer2013_train_500.npz"


def bundled(folder: str, name: str) -> Path:
    """A file shipped in models/ or calibration/ (the repository's, or the installed package data)."""
    from importlib import resources

    candidate = REPO_ROOT / folder / name
    if candidate.exists():
        return candidate
    return Path(str(resources.files(f"edgeemo.{folder}") / name))


def bundled_model(name: str) -> Path:
    return bundled("models", name)


def _add_train(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", formatter_class=Formatter, help="train the FER CNN on FER-2013-style data",
        description="Train the compact FER CNN. A stratified validation split is carved from the "
        "training data; the best epoch on it is kept. Test data is never used.",
    )
    parser.add_argument("--data", required=True, help="Kaggle folder tree (<split>/<label>/*.jpg) or fer2013.csv")
    parser.add_argument("--out", required=True, type=Path, help="run directory, e.g. runs/NAME")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW, cosine schedule)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="bf16",
                        help="bf16 = mixed_bfloat16, about 2x faster on CPUs with AVX512-BF16/AMX")
    parser.add_argument("--class-weights", choices=("none", "balanced", "sqrt"), default="none",
                        help="per-class loss weights against class imbalance")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--patience", type=int, default=15, help="early-stopping patience in epochs")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from edgeemo.train.config import TrainConfig
    from edgeemo.train.trainer import train

    config = TrainConfig(
        data=str(args.data), epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        precision=args.precision, class_weights=args.class_weights, label_smoothing=args.label_smoothing,
        patience=args.patience,
    )
    model_path = train(config, args.out, resume=args.resume)
    print(f"model: {model_path}  (sidecar {model_path.with_suffix('.json')}, curves {args.out / 'curves.png'})")
    return 0


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", formatter_class=Formatter, help="evaluate a .keras or .tflite model on labelled faces",
        description="Accuracy, macro-F1, per-class precision/recall/F1/ROC-AUC and a confusion matrix.",
    )
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (.keras or .tflite); default: the bundled models/fer_cnn.keras")
    parser.add_argument("--data", required=True, help="Kaggle folder tree or fer2013.csv")
    parser.add_argument("--split", choices=("train", "test", "private"), default="test",
                        help="for a CSV: Training/PublicTest/PrivateTest rows; for a dataset root: the subfolder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    parser.add_argument("--out", type=Path, help="also write report.json, report.md and confusion_matrix.png here")
    parser.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    import json

    from edgeemo.train.evaluate import evaluate, render_text

    model = args.model or bundled_model("fer_cnn.keras")
    report = evaluate(model, args.data, args.split, args.out, progress=not args.json)
    if args.json:
        print(json.dumps({"model": str(model), **report.to_dict()}))
    else:
        print(render_text(report, model, args.data))
        if args.out:
            print(f"\nwrote {args.out}/report.json, report.md, confusion_matrix.png")
    return 0


def _add_calibrate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "calibrate", formatter_class=Formatter, help="build an int8 calibration set from training faces",
        description="A class-balanced, seeded sample of training faces (never validation or test faces), "
        "stored as uint8 .npz with a manifest .json beside it.",
    )
    parser.add_argument("--data", required=True, help="training data: Kaggle folder tree or fer2013.csv")
    parser.add_argument("--n", type=int, default=500, help="number of faces")
    parser.add_argument("--out", required=True, type=Path, help="output .npz, e.g. calibration/NAME.npz")
    parser.add_argument("--seed", type=int, default=42, help="sampling and split seed (match the model's)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="validation share left out (match the model's)")
    parser.set_defaults(handler=_run_calibrate)


def _run_calibrate(args: argparse.Namespace) -> int:
    from edgeemo.calibration.build import build

    manifest = build(args.data, args.n, args.out, args.seed, args.val_fraction)
    counts = ", ".join(f"{k} {v}" for k, v in manifest["class_counts"].items())
    print(f"{args.out}: {manifest['n']} faces ({counts}); sha256 {manifest['sha256'][:12]}…")
    return 0


def _add_convert(commands: argparse._SubParsersAction) -> None:
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
    parser.add_argument("--prune", type=float, metavar="SPARSITY", help="magnitude-prune to this sparsity first")
    parser.add_argument("--prune-epochs", type=int, default=2, help="fine-tuning epochs while pruning")
    parser.add_argument("--edgetpu", action="store_true", help="check Edge TPU compatibility and compile")
    parser.add_argument("--max-drop", type=float, default=1.0, help="drift gate: largest accuracy drop, points")
    parser.add_argument("--min-agreement", type=float, default=0.98, help="drift gate: smallest top-1 agreement")
    parser.add_argument("--qat", choices=("auto", "always", "never"), default="auto",
                        help="quantization-aware fine-tuning: auto = only when PTQ fails the drift gate")
    parser.add_argument("--qat-epochs", type=int, default=2, help="fine-tuning epochs for QAT")
    parser.add_argument("--force", action="store_true", help="write the model even if the drift gate fails")
    parser.set_defaults(handler=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from edgeemo.convert.pipeline import ConvertOptions, convert_int8

    result = convert_int8(ConvertOptions(
        model=args.model or bundled_model("fer_cnn.keras"),
        calibration=args.calib or bundled("calibration", DEFAULT_CALIBRATION),
        out=args.out, data=args.data, prune_sparsity=args.prune, prune_epochs=args.prune_epochs,
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


def _add_drift(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "drift", formatter_class=Formatter, help="compare a float and an int8 model on labelled faces",
        description="Accuracy of both, top-1 agreement, per-class deltas, mean KL and the largest probability "
        "difference; exits 1 when a threshold is crossed.",
    )
    parser.add_argument("--float", dest="float_model", required=True, type=Path, help="float .keras or .tflite")
    parser.add_argument("--int8", dest="int8_model", required=True, type=Path, help="int8 .tflite")
    parser.add_argument("--data", required=True, help="labelled faces: Kaggle folder tree or fer2013.csv")
    parser.add_argument("--split", choices=("train", "test", "private"), default="test")
    parser.add_argument("--max-drop", type=float, default=1.0, help="largest accuracy drop, points")
    parser.add_argument("--min-agreement", type=float, default=0.98, help="smallest top-1 agreement")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--out", type=Path, help="write drift.md and drift.json here")
    parser.set_defaults(handler=_run_drift)


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
    data = load_faces(args.data, args.split, float_predictor.input_size)
    p_float = predict_all(float_predictor, data.images, progress=not args.json)
    p_int8 = predict_all(int8_predictor, data.images, progress=not args.json)
    report = compare(data.labels, p_float, p_int8, float_predictor.labels, args.max_drop, args.min_agreement)
    title = f"{args.float_model.name} vs {args.int8_model.name} on {args.data} ({args.split})"
    if args.out:
        write_reports(report, title, args.out / "drift.md")
    print(json.dumps(report.to_dict()) if args.json else to_markdown(report, title))
    return 0 if report.passed else 1


def _add_edgetpu_check(commands: argparse._SubParsersAction) -> None:
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
    print("Edge TPU compatible: " + ("yes" if not findings else f"no ({len(findings)} finding(s))"))
    return 0 if not findings else 1


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_train, _add_evaluate, _add_calibrate, _add_convert, _add_drift, _add_edgetpu_check,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeemo", formatter_class=Formatter,
        description="Facial-emotion analytics on the edge: train, evaluate and ship compact FER models.",
    )
    parser.add_argument("--version", action="version", version=f"edgeemo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout,
    )
    for noisy in ("tensorflow", "absl", "h5py"):  # SavedModel/converter chatter at INFO
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.handler(args)
    except EdgeemoError as exc:
        print(f"edgeemo {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"edgeemo {args.command}: interrupted", file=sys.stderr)
        return 130
