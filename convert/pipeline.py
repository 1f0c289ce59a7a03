"""`edgeemo convert --int8`: (prune) -> full-int8 PTQ -> drift gate -> write -> (Edge TPU compile).

The drift gate runs on the float model's own held-out validation split (carved from its
training data with the seed in its sidecar), never on test faces. A model that fails the
gate is not written unless forced.
"""

from __future__ import annotations

import gzip
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeemo import __version__
from edgeemo.calibration.sets import load_calibration_set
from edgeemo.convert.drift import DriftReport, compare, write_reports
from edgeemo.convert.edgetpu import CompileResult, check_model, compile_for_edgetpu
from edgeemo.errors import EdgeemoError
from edgeemo.sidecar import file_sha256, read_sidecar, write_sidecar
from edgeemo.train.data import FaceDataset, load_split

log = logging.getLogger(__name__)


@dataclass
class ConvertOptions:
    model: Path
    calibration: Path
    out: Path | None = None
    data: str | None = None
    votes: str | None = None  # default: the float model's own (its sidecar's training config)
    prune_sparsity: float | None = None
    prune_epochs: int = 2
    edgetpu: bool = False
    force: bool = False
    max_drop_pt: float = 1.0
    min_agreement: float = 0.98
    qat: str = "auto"  # auto: only when PTQ fails the gate; always; never
    qat_epochs: int = 2


@dataclass
class ConvertResult:
    output: Path
    drift: DriftReport
    drift_report: Path
    size_bytes: int
    gzip_bytes: int
    method: str = "ptq"
    sparsity: float | None = None
    prune_gzip: tuple[int, int] | None = None
    edgetpu: CompileResult | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _held_out(data: str, votes: str | None, made_by: dict, input_size: tuple[int, int],
              labels: list[str]) -> tuple[FaceDataset, FaceDataset]:
    """(training part, held-out validation part) of the split the float model was trained with."""
    config = made_by.get("config", {})
    train_set, val_set = load_split(data, config.get("val_fraction", 0.1), config.get("seed", 42), input_size, votes)
    return train_set.for_model(labels), val_set.for_model(labels)


QUANTIZATION_METHODS = {
    "ptq": "full-integer post-training quantization",
    "qat": "quantization-aware fine-tuning, then full-integer conversion",
}


def _fine_tune_config(data: str, made_by: dict):
    """The training settings pruning and QAT fine-tuning reuse from the float model's run."""
    from edgeemo.train.config import TrainConfig

    config = made_by.get("config", {})
    return TrainConfig(data=str(data), **{k: config[k] for k in ("batch_size", "seed", "label_smoothing",
                                                                 "class_weights") if k in config})


def convert_int8(options: ConvertOptions) -> ConvertResult:
    from edgeemo.train.evaluate import predict_all
    from edgeemo.train.metrics import error_calibration
    from edgeemo.train.predictors import load_predictor
    from edgeemo.train.tfkeras import keras, tf

    timings: dict[str, float] = {}
    started = time.perf_counter()
    if options.model.suffix != ".keras":
        raise EdgeemoError(f"{options.model}: convert takes a float .keras model")
    if options.qat not in ("auto", "always", "never"):
        raise EdgeemoError(f"--qat {options.qat!r}: choose auto, always or never")
    if options.prune_sparsity is not None and not 0 < options.prune_sparsity < 1:
        raise EdgeemoError("--prune takes a sparsity between 0 and 1, e.g. 0.5")
    sidecar = read_sidecar(options.model)
    float_predictor = load_predictor(options.model)
    calibration = load_calibration_set(options.calibration)
    if calibration.input_size != sidecar.input_size:
        raise EdgeemoError(f"{options.calibration}: faces are {calibration.input_size}, "
                           f"the model takes {sidecar.input_size}")
    data = options.data or sidecar.made_by.get("data")
    if not data or not Path(data).exists():
        raise EdgeemoError(f"training data {data!r} not found; pass --data with the float model's training "
                           "data (the drift gate runs on its held-out validation split)")
    votes = options.votes or sidecar.made_by.get("config", {}).get("votes")
    if votes and not Path(votes).is_file():
        raise EdgeemoError(f"FER+ votes {votes!r} not found; pass --votes with the float model's vote file")
    train_set, val_set = _held_out(data, votes, sidecar.made_by, sidecar.input_size, sidecar.labels)
    log.info("drift gate data: %d held-out validation faces of %s", len(val_set), data)
    output = options.out or options.model.with_name(f"{options.model.stem}_int8.tflite")
    output.parent.mkdir(parents=True, exist_ok=True)

    model = keras.models.load_model(options.model, compile=False)
    sparsity = prune_gzip = None
    if options.prune_sparsity is not None:
        from edgeemo.convert.prune import prune

        mark = time.perf_counter()
        pruned = prune(model, options.prune_sparsity, options.prune_epochs, train_set, val_set,
                       _fine_tune_config(data, sidecar.made_by))
        model, sparsity = pruned.model, pruned.sparsity
        prune_gzip = (pruned.gzip_bytes_before, pruned.gzip_bytes_after)
        timings["prune_s"] = time.perf_counter() - mark

    from edgeemo.convert.quantize import quantize_int8

    p_float = float_predictor.predict(val_set.images)
    title = f"{options.model.name} -> {output.name} (held-out validation split)"
    drift_md = output.with_name(f"{output.stem}_drift.md")
    methods = ["ptq", "qat"] if options.qat == "auto" else ["qat" if options.qat == "always" else "ptq"]
    staged = output.with_name(f".tmp-{output.name}")
    try:
        for method in methods:
            mark = time.perf_counter()
            if method == "qat":
                from edgeemo.convert.qat import quantization_aware

                model = quantization_aware(model, train_set, val_set, _fine_tune_config(data, sidecar.made_by),
                                           options.qat_epochs)
            log.info("quantizing (%s) to full int8 against %d calibration faces (%s)", method.upper(),
                     len(calibration.faces), options.calibration)
            flatbuffer = quantize_int8(model, calibration.faces)
            staged.write_bytes(flatbuffer)
            p_int8 = predict_all(load_predictor(staged), val_set.images, progress=False)
            timings[f"{method}_s"] = time.perf_counter() - mark
            report = compare(val_set.labels, p_float, p_int8, val_set.names, options.max_drop_pt,
                             options.min_agreement)
            write_reports(report, f"{title}, {method.upper()}", drift_md)
            log.info("%s drift: drop %+.2f pt, agreement %.2f%%", method.upper(), report.accuracy_drop_pt,
                     report.agreement * 100)
            if report.passed:
                break
        if not report.passed and not options.force:
            raise EdgeemoError(f"drift gate failed ({'; '.join(report.failures)}) after "
                               f"{' and '.join(m.upper() for m in methods)}; {output} not written. "
                               f"See {drift_md}; --force writes it anyway")
        if not report.passed:
            log.warning("DRIFT GATE FAILED (%s) -- writing %s anyway because of --force",
                        "; ".join(report.failures), output)
        os.replace(staged, output)
    finally:
        staged.unlink(missing_ok=True)

    # the int8 model's own confusion on the validation split: its estimates are corrected with it
    measured = error_calibration(val_set.labels, p_int8.argmax(axis=1), list(sidecar.labels),
                                 f"validation split of {data}, this int8 model's own outputs")
    write_sidecar(output, {
        "stage": "convert",
        "quantization": QUANTIZATION_METHODS[method] + " (int8 weights, activations, input, output)",
        "qat_epochs": options.qat_epochs if method == "qat" else 0,
        "source_model": options.model.name,
        "source_sha256": file_sha256(options.model),
        "calibration_set": options.calibration.name,
        "calibration_sha256": file_sha256(options.calibration),
        "calibration_faces": len(calibration.faces),
        "sparsity": round(sparsity, 4) if sparsity is not None else 0.0,
        "prune_epochs": options.prune_epochs if sparsity is not None else 0,
        "drift_gate": {"data": "held-out validation split of " + str(data), "n": report.n,
                       "accuracy_drop_pt": round(report.accuracy_drop_pt, 3),
                       "agreement": round(report.agreement, 4), "passed": report.passed, "forced": options.force},
        "train": sidecar.made_by,
        "edgeemo": __version__,
        "tensorflow": tf.__version__,
    }, labels=list(sidecar.labels), input_shape=sidecar.input_shape, calibration=measured)
    result = ConvertResult(output, report, drift_md, len(flatbuffer), len(gzip.compress(flatbuffer, 9)),
                           method, sparsity, prune_gzip, timings=timings)
    if options.edgetpu:
        findings = check_model(output)
        if findings:
            raise EdgeemoError(f"{output}: not Edge TPU compatible: " + "; ".join(map(str, findings)))
        result.edgetpu = compile_for_edgetpu(output)
        write_sidecar(result.edgetpu.output, {"stage": "edgetpu_compile", "source_model": output.name,
                                              "source_sha256": file_sha256(output),
                                              "ops_on_edgetpu": result.edgetpu.ops_on_tpu},
                      labels=list(sidecar.labels), input_shape=sidecar.input_shape, calibration=measured)
    timings["total_s"] = time.perf_counter() - started
    return result
