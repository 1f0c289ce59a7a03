"""`--init`: starting a run from a trained model's weights, and the record of where they came from."""

from __future__ import annotations

import logging
from pathlib import Path

from edgeemo.errors import EdgeemoError, first_line
from edgeemo.sidecar import file_sha256, read_sidecar
from edgeemo.train.tfkeras import keras

log = logging.getLogger(__name__)


def load_initial_weights(model: keras.Model, source: Path) -> dict:
    """Copy every weight of a trained model into `model` (the architectures must match).

    A starting model with another number of classes (FER-2013's 7 for a FER+ run's 8) gives
    every layer but the output layer, which starts from random weights.

    Returns the record the run's sidecar keeps under `init`: the starting model's path,
    sha256 and, when it has a sidecar, how it was trained. It is taken now, from the file
    the weights came from, so it stays right even if that file is later replaced (as when
    a fine-tuned model becomes the bundled one).
    """
    if not source.is_file():
        raise EdgeemoError(f"--init {source}: no such model file; pass a .keras model written by edgeemo train")
    try:
        trained = keras.models.load_model(source, compile=False)
        fresh = _copy_matching_weights(trained, model)
    except (OSError, ValueError) as exc:
        raise EdgeemoError(f"--init {source}: cannot start from it ({first_line(exc)}); it must be a .keras model "
                           "with the same architecture as this run's config") from exc
    log.info("starting from the weights of %s%s", source, f" (new, random: {', '.join(fresh)})" if fresh else "")
    record: dict = {"model": str(source), **({"reinitialised": fresh} if fresh else {})}
    try:
        sidecar = read_sidecar(source)  # also checks its sha256
    except EdgeemoError:
        return {**record, "sha256": file_sha256(source)}
    return {**record, "sha256": sidecar.sha256, "made_by": sidecar.made_by}


def _copy_matching_weights(trained: keras.Model, model: keras.Model) -> list[str]:
    """Copy weights layer by layer; only the output layer may differ (in classes). Returns its name."""
    if [layer.name for layer in trained.layers] != [layer.name for layer in model.layers]:
        raise ValueError("its layers differ from this run's model")
    fresh = []
    for source_layer, layer in zip(trained.layers, model.layers):
        weights = source_layer.get_weights()
        if [w.shape for w in weights] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(weights)
        elif layer is model.layers[-2] and isinstance(layer, keras.layers.Dense):  # logits, before softmax
            fresh.append(layer.name)
        else:
            raise ValueError(f"layer {layer.name} has other shapes")
    return fresh


def init_provenance(state: dict) -> dict:
    """Sidecar fields of a fine-tuned run: its starting model and the training time of both."""
    init = state.get("init")
    if init is None:
        return {}
    total = state["train_seconds"] + float(init.get("made_by", {}).get("train_seconds", 0.0))
    return {"init": init, "train_seconds_with_init": round(total, 1)}
