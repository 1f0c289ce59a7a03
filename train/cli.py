"""`edgeemo train` and `edgeemo evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeemo.bundled import bundled_model
from edgeemo.cli_common import Formatter, Subcommands


def _add_train(commands: Subcommands) -> None:
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
    parser.add_argument("--warmup-epochs", type=int, default=3, help="linear warm-up before the cosine decay")
    parser.add_argument("--init", type=Path, default=None, metavar="MODEL",
                        help="start from this trained .keras model (same architecture) instead of random "
                        "weights: fine-tune the bundled model on your own data with a lower --lr")
    parser.add_argument("--votes", type=Path, default=None, metavar="CSV",
                        help="FER+ ferplus_votes.csv: train the 8 FER+ classes on its majority labels "
                        "(images without a majority are dropped)")
    parser.add_argument("--targets", choices=("majority", "distribution"), default="majority",
                        help="with --votes: one-hot majority labels, or the vote distribution as soft targets")
    parser.add_argument("--augment", choices=("standard", "light"), default="standard",
                        help="standard: flip, rotation, shift, zoom, brightness/contrast, erasing; "
                        "light: flip and +-3 px shift (for fine-tuning)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from edgeemo.train.config import AUGMENT_PRESETS, TrainConfig
    from edgeemo.train.trainer import train

    config = TrainConfig(
        data=str(args.data), epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        precision=args.precision, class_weights=args.class_weights, label_smoothing=args.label_smoothing,
        patience=args.patience, warmup_epochs=args.warmup_epochs,
        init_from=str(args.init) if args.init else None, votes=str(args.votes) if args.votes else None,
        targets=args.targets, augment=AUGMENT_PRESETS[args.augment],
    )
    model_path = train(config, args.out, resume=args.resume)
    print(f"model: {model_path}  (sidecar {model_path.with_suffix('.json')}, curves {args.out / 'curves.png'})")
    return 0


def _add_evaluate(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "evaluate", formatter_class=Formatter, help="evaluate a .keras or .tflite model on labelled faces",
        description="Accuracy, macro-F1, per-class precision/recall/F1/ROC-AUC and a confusion matrix.",
    )
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (.keras or .tflite); default: the bundled models/fer_cnn.keras")
    parser.add_argument("--data", required=True, help="Kaggle folder tree or fer2013.csv")
    parser.add_argument("--split", choices=("train", "test", "private"), default="test",
                        help="for a CSV: Training/PublicTest/PrivateTest rows; for a dataset root: the subfolder")
    parser.add_argument("--votes", type=Path, metavar="CSV",
                        help="FER+ ferplus_votes.csv: evaluate on the FER+ majority labels (8 classes)")
    parser.add_argument("--train-data", metavar="DIR_OR_CSV",
                        help="the training data: also report accuracy on the faces with no copy in it")
    parser.add_argument("--tta", choices=("none", "flip"), default="none",
                        help="test-time augmentation: flip averages each face with its mirror image")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    parser.add_argument("--out", type=Path, help="also write report.json, report.md and confusion_matrix.png here")
    parser.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    import json

    from edgeemo.train.evaluate import evaluate, render_text

    model = args.model or bundled_model("fer_cnn.keras")
    report = evaluate(model, args.data, args.split, args.out, progress=not args.json, votes=args.votes,
                      train_data=args.train_data, tta=args.tta)
    if args.json:
        print(json.dumps({"model": str(model), **report.to_dict()}))
    else:
        print(render_text(report, model, args.data))
        if args.out:
            print(f"\nwrote {args.out}/report.json, report.md, confusion_matrix.png")
    return 0


COMMANDS = (_add_train, _add_evaluate)
