"""`edgeemo train` and `edgeemo evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeemo.bundled import DEFAULT_MODEL, bundled_model
from edgeemo.cli_common import Formatter, Subcommands


def _add_train(commands: Subcommands) -> None:
    from edgeemo.train.config import cli_settings, default_of, flag_of

    parser = commands.add_parser(
        "train", formatter_class=Formatter, help="train the FER CNN on FER-2013-style data",
        description="Train the compact FER CNN. A stratified validation split is carved from the "
        "training data; the best epoch on it is kept. Test data is never used. Settings come from the "
        "defaults, then --config PRESET.toml (the shipped runs: train/presets/), then the flags given.",
    )
    parser.add_argument("--out", required=True, type=Path, help="run directory, e.g. runs/NAME")
    parser.add_argument("--config", type=Path, metavar="PRESET.toml",
                        help="a preset: training settings by name (train/presets/ holds the shipped models' runs)")
    for setting in cli_settings():
        default = default_of(setting)
        kind = type(default) if default is not None and not isinstance(default, str) else str
        parser.add_argument(flag_of(setting), dest=setting.name, type=kind, default=argparse.SUPPRESS,
                            choices=setting.metadata["choices"] or None, metavar=setting.metadata["metavar"],
                            help=setting.metadata["help"] + ("" if default is None else f" (default: {default})"))
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint "
                        "(with the settings it recorded; other settings given are ignored)")
    parser.set_defaults(handler=_run_train, needs=("train",))


def _run_train(args: argparse.Namespace) -> int:
    from edgeemo.train.config import cli_settings, from_settings, read_preset
    from edgeemo.train.trainer import train

    config = None
    if not args.resume:  # a resumed run continues with the settings it recorded
        given = {s.name: getattr(args, s.name) for s in cli_settings() if hasattr(args, s.name)}
        config = from_settings({**(read_preset(args.config) if args.config else {}), **given},
                               str(args.config or "the flags"))
    model_path = train(config, args.out, resume=args.resume)
    print(f"model: {model_path}  (sidecar {model_path.with_suffix('.json')}, curves {args.out / 'curves.png'})")
    return 0


def _add_evaluate(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "evaluate", formatter_class=Formatter, help="evaluate a .keras or .tflite model on labelled faces",
        description="Accuracy, macro-F1, per-class precision/recall/F1/ROC-AUC and a confusion matrix.",
    )
    parser.add_argument("--model", type=Path, default=None,
                        help=f"model file (.keras or .tflite); default: the bundled {DEFAULT_MODEL}, as for run and "
                        "bench (8 FER+ classes: give --votes for FER+ labels)")
    parser.add_argument("--data", required=True, help="Kaggle folder tree or fer2013.csv")
    parser.add_argument("--split", choices=("train", "test", "private", "validation", "own"), default="test",
                        help="for a CSV: Training/PublicTest/PrivateTest rows; for a dataset root: the subfolder; "
                        "validation: the honest validation split `edgeemo train` carved from --data (the training "
                        "data), with the seed and fraction from the model's sidecar, never used for training; "
                        "own: every face in --data, a folder of label folders the model never trained on (a "
                        "store's own labelled visits)")
    parser.add_argument("--votes", type=Path, metavar="CSV",
                        help="FER+ ferplus_votes.csv: evaluate on the FER+ majority labels (8 classes)")
    parser.add_argument("--train-data", metavar="DIR_OR_CSV",
                        help="the training data: also report accuracy on the faces with no copy in it")
    parser.add_argument("--tta", choices=("none", "flip"), default="none",
                        help="test-time augmentation: flip averages each face with its mirror image")
    parser.add_argument("--write-calibration", action="store_true",
                        help="with --split validation or own: write the model's confusion there into its sidecar, "
                        "the calibration the corrected satisfaction index and mix are computed from")
    parser.add_argument("--quantify", action="store_true",
                        help="also simulate store-days from these faces (still faces, not a store): the error and "
                        "95%% interval coverage of the raw and the corrected satisfaction index and mix")
    parser.add_argument("--sizes", metavar="W,W,...",
                        help="also score the faces as a store camera shows them: shrunk to each width in px (e.g. "
                        "48,40,32,24) and enlarged by the runtime's own resize; accuracy, recall and the raw index's "
                        "drift at each")
    parser.add_argument("--jpeg", type=int, metavar="QUALITY",
                        help="with --sizes: also each width behind JPEG at this quality (1-100), compressed at that size")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    parser.add_argument("--out", type=Path, help="also write report.json, report.md, confusion_matrix.png and roc.png "
                        "(each class's ROC curve against the rest, with its AUC) here")
    parser.set_defaults(handler=_run_evaluate, needs=("train",))


def _run_evaluate(args: argparse.Namespace) -> int:
    import json

    from edgeemo.errors import EdgeemoError
    from edgeemo.train.evaluate import evaluate, render_text
    from edgeemo.train.sizes import parse_sizes

    if args.jpeg is not None and (not args.sizes or not 1 <= args.jpeg <= 100):
        raise EdgeemoError(f"--jpeg {args.jpeg}: a quality 1..100, given with --sizes")
    model = args.model or bundled_model(DEFAULT_MODEL)
    report = evaluate(model, args.data, args.split, args.out, progress=not args.json, votes=args.votes,
                      train_data=args.train_data, tta=args.tta, write_calibration=args.write_calibration,
                      quantify=args.quantify, sizes=parse_sizes(args.sizes) if args.sizes else (), jpeg=args.jpeg)
    if args.json:
        print(json.dumps({"model": str(model), **report.to_dict()}))
    else:
        print(render_text(report, model, args.data))
        if args.out:
            print(f"\nwrote {args.out}/report.json, report.md, confusion_matrix.png, roc.png")
    return 0


def _add_teacher_targets(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "teacher-targets", formatter_class=Formatter, help="write a teacher model's outputs for distillation",
        description="Run a trained model over every training face and write its probabilities to an .npz that "
        "`edgeemo train --teacher-targets` reads: a student is then retrained without running the teacher. "
        "Use a teacher trained with the student's --seed (the same honest validation split), or its knowledge "
        "of the student's validation faces leaks into the student's validation figure.",
    )
    parser.add_argument("--model", required=True, type=Path, help="the teacher (.keras or .tflite, with its sidecar)")
    parser.add_argument("--data", required=True, help="the training data's Kaggle folder tree (the student's --data)")
    parser.add_argument("--out", required=True, type=Path, help="the targets file to write, e.g. runs/teacher.npz")
    parser.add_argument("--tta", choices=("none", "flip"), default="flip",
                        help="flip: average each face with its mirror image (training flips faces at random)")
    parser.set_defaults(handler=_run_teacher_targets, needs=("train",))


def _run_teacher_targets(args: argparse.Namespace) -> int:
    from edgeemo.train.teacher import write_teacher_targets

    count = write_teacher_targets(args.model, args.data, args.out, args.tta)
    print(f"wrote {args.out}: {args.model}'s outputs for {count} training faces")
    return 0


COMMANDS = (_add_train, _add_evaluate, _add_teacher_targets)
