"""Opening a model for the edge runtime: sidecar contract, hash check, backend choice.

A model whose bytes do not match its sidecar's sha256 (truncated copy, an HTML error page
saved as .tflite, the wrong file) is refused before any runtime touches it. An
`_edgetpu.tflite` model runs on the Edge TPU when the delegate loads, otherwise on the CPU
(its CPU fallback path) with one warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from edgeemo.bundled import DEFAULT_MODEL, bundled_model
from edgeemo.edge.inference.classifier import TFLiteClassifier
from edgeemo.edge.inference.edgetpu import load_edgetpu_delegate
from edgeemo.errors import EdgeemoError
from edgeemo.sidecar import ModelSidecar, read_sidecar
from edgeemo.tomlconfig import Section

log = logging.getLogger(__name__)


class ModelConfig(Section):
    """`[model]`: which model, on how many threads."""

    path: Path | None = Field(None, description="a .tflite with its sidecar; default: the bundled FER+ int8 "
                              f"model ({DEFAULT_MODEL})")
    threads: int = Field(2, ge=1, le=64)
    tta: Literal["none", "flip"] = Field("none", description="flip: classify each face and its mirror image "
                                         "in one batch and average (about 2x the inference time)")


@dataclass
class EdgeModel:
    path: Path
    sidecar: ModelSidecar
    classifier: TFLiteClassifier
    accelerator: str  # "cpu" or "edgetpu"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.sidecar.labels)


def open_edge_model(path: Path | None, threads: int = 2) -> EdgeModel:
    path = Path(path) if path is not None else bundled_model(DEFAULT_MODEL)
    if path.is_dir():  # a release folder, e.g. /var/lib/edgeemo/models/current
        candidates = sorted(path.glob("*.tflite"))
        if len(candidates) != 1:
            raise EdgeemoError(f"{path}: expected one .tflite model in this folder, found {len(candidates)}")
        path = candidates[0]
    if not path.is_file():
        raise EdgeemoError(f"{path}: model file not found")
    if path.suffix != ".tflite":
        raise EdgeemoError(f"{path}: the edge runtime runs .tflite models; convert with `edgeemo convert --int8`")
    sidecar = read_sidecar(path, verify_hash=True)
    delegates, accelerator = [], "cpu"
    if path.name.endswith("_edgetpu.tflite"):
        delegate, why_not = load_edgetpu_delegate()
        if delegate is None:
            log.warning("%s: Edge TPU unavailable (%s); running on the CPU", path.name, why_not)
        else:
            delegates, accelerator = [delegate], "edgetpu"
    classifier = TFLiteClassifier(path, threads, delegates)
    if classifier.input_size != sidecar.input_size:
        raise EdgeemoError(f"{path}: input {classifier.input_size} differs from its sidecar's {sidecar.input_size}")
    if classifier.num_classes != len(sidecar.labels):
        raise EdgeemoError(f"{path}: {classifier.num_classes} outputs but {len(sidecar.labels)} labels in its sidecar")
    log.info("model %s (sha256 %s…) on %s via %s", path.name, sidecar.sha256[:12], accelerator, classifier.runtime)
    return EdgeModel(path, sidecar, classifier, accelerator)
