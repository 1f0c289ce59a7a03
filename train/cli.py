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
                        help="write the model's confusion on these faces into its sidecar as the calibration source "
                        "named after --split (validation, test or own: a store's labelled faces), beside the others "
                        "(the corrected index and mix use them all); with --chain, through the device chain per "
                        "face-size band")
    parser.add_argument("--quantify", action="store_true",
                        help="also simulate store-days from these faces (still faces, not a store): the error and "
                        "95%% interval coverage of the raw and the corrected satisfaction index and mix")
    parser.add_argument("--cross-fit", type=int, default=0, metavar="K",
                        help="with --quantify or --chain: judge a calibration pooled from the sidecar's other sources "
                        "and these faces without scoring on the faces it was made of: these faces in K folds, each "
                        "corrected with the other sources and the other folds (several seeded splits)")
    parser.add_argument("--chain", nargs="?", const="", metavar="PROFILE",
                        help="also run one simulated shopper per face through the whole device chain (detector, crop, "
                        "classifier, tracker, visits; `edgeemo run`'s loop, unpaced) with a camera PROFILE (near, far "
                        "or a TOML file; default far) and score store-days against the truth: adds `chain` and "
                        "`visits` to the JSON")
    parser.add_argument("--profile", metavar="PROFILE", help="with --chain: the camera profile (near, far or a TOML "
                        "file; default far); the same as --chain PROFILE")
    parser.add_argument("--boxes", choices=("detector", "oracle"), default="detector",
                        help="with --chain: the default detector's boxes, or the true ones jittered as the detector's "
                        "(scores the reading apart from the finding)")
    parser.add_argument("--unseen-only", action="store_true",
                        help="with --quantify and --train-data: draw store-days only from faces with no "
                        "pixel-identical copy in the training data (a store's faces are new to the model)")
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

    if args.profile is not None:
        if args.chain is None or args.chain not in ("", args.profile):
            raise EdgeemoError(f"--profile {args.profile}: a camera profile for --chain; give it with --chain (and "
                               "no other profile after --chain)")
        args.chain = args.profile
    if args.write_calibration and args.chain is not None and (args.chain or args.cross_fit
                                                               or args.boxes != "detector"):
        raise EdgeemoError("--chain --write-calibration measures every face in the calibration's own bands and "
                           "cameras (oracle boxes): give no profile, --boxes or --cross-fit with it")
    if args.cross_fit and (args.cross_fit < 2 or args.cross_fit > 20 or not (args.quantify or args.chain)):
        raise EdgeemoError(f"--cross-fit {args.cross_fit}: 2..20 folds, given with --quantify or --chain")
    if args.jpeg is not None and (not args.sizes or not 1 <= args.jpeg <= 100):
        raise EdgeemoError(f"--jpeg {args.jpeg}: a quality 1..100, given with --sizes")
    model = args.model or bundled_model(DEFAULT_MODEL)
    report = evaluate(model, args.data, args.split, args.out, progress=not args.json, votes=args.votes,
                      train_data=args.train_data, tta=args.tta, write_calibration=args.write_calibration,
                      quantify=args.quantify, sizes=parse_sizes(args.sizes) if args.sizes else (), jpeg=args.jpeg,
                      cross_fit=args.cross_fit, unseen_only=args.unseen_only, chain=args.chain, boxes=args.boxes)
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
