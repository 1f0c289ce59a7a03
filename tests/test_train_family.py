"""The model family's training pieces: separable blocks and activations, label subsets, distillation
targets, ROC curves, and one real (tiny) run through the CLI that uses them all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeemo.errors import EdgeemoError
from edgeemo.labels import LABELS
from edgeemo.sidecar import file_sha256
from edgeemo.train.config import ACTIVATIONS, ModelConfig, from_settings
from edgeemo.train.data import FaceDataset
from edgeemo.train.metrics import roc_auc, roc_curve
from edgeemo.train.teacher import mixed_targets, read_teacher_targets, teacher_provenance
from tests.conftest import run_cli, write_folder_dataset

TINY_SEPARABLE = ModelConfig(blocks="separable", stem=8, widths=(8, 16), convs_per_stage=(1, 2),
                             stage_dropout=0, head_dropout=0)


def faces(labels: list[int], names: tuple[str, ...] = LABELS, targets: np.ndarray | None = None) -> FaceDataset:
    n = len(labels)
    keys = np.array([f"{names[label]}/{i}.png" for i, label in enumerate(labels)], dtype=object)
    return FaceDataset(np.zeros((n, 48, 48), np.uint8), np.asarray(labels, np.int64), "test faces", 0, names,
                       targets, keys)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_each_activation_builds_saves_and_loads_without_custom_objects(act: str, tmp_path: Path) -> None:
    from edgeemo.train.model import build_model
    from edgeemo.train.tfkeras import keras

    model = build_model(TINY_SEPARABLE, num_classes=3, act=act)
    path = tmp_path / f"{act}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    batch = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype(np.float32)
    assert np.allclose(loaded(batch).numpy(), model(batch).numpy(), atol=1e-6)


def test_hard_swish_is_mobilenet_v3s() -> None:
    from edgeemo.train.model import activation
    from edgeemo.train.tfkeras import keras

    inputs = keras.Input((5,))
    model = keras.Model(inputs, activation(inputs, "hard_swish", "t"))
    x = np.array([[-4.0, -3.0, -1.0, 1.5, 4.0]], np.float32)
    assert np.allclose(model(x).numpy(), x * np.clip(x + 3, 0, 6) / 6, atol=1e-6)


def test_separable_macs_count_the_depthwise_and_pointwise_parts() -> None:
    from edgeemo.train.model import build_model, count_macs

    model = build_model(ModelConfig(blocks="separable", stem=4, widths=(8,), convs_per_stage=(1,),
                                    stage_dropout=0, head_dropout=0), num_classes=2)
    stem = 48 * 48 * 9 * 1 * 4
    depthwise = 48 * 48 * 9 * 4
    pointwise = 48 * 48 * 4 * 8
    assert count_macs(model) == stem + depthwise + pointwise + 8 * 2


@pytest.mark.parametrize("model, message", [
    ({"blocks": "dense"}, "model.blocks 'dense'"),
    ({"widths": [8, 16], "convs_per_stage": [1]}, "one entry per stage"),
    ({"stem": -1}, "model.stem"),
])
def test_a_bad_model_shape_is_one_line_naming_it(model: dict, message: str) -> None:
    with pytest.raises(EdgeemoError, match=message):
        from_settings({"data": "x", "model": model})


@pytest.mark.parametrize("setting, message", [
    ({"activation": "tanh"}, "--activation 'tanh'"),
    ({"classes": "happy"}, "two or more"),
    ({"classes": "happy,happy"}, "two or more"),
    ({"teacher_weight": 1.5}, "--teacher-weight"),
    ({"teacher_temperature": 0.0}, "--teacher-temperature"),
])
def test_bad_family_settings_are_refused(setting: dict, message: str) -> None:
    with pytest.raises(EdgeemoError, match=message):
        from_settings({"data": "x", **setting})


def test_a_subset_keeps_its_faces_relabelled_in_the_order_given() -> None:
    names = LABELS
    happy, sad, angry = names.index("happy"), names.index("sad"), names.index("angry")
    targets = np.zeros((4, len(names)), np.float32)
    targets[0, [happy, angry]] = (0.6, 0.4)
    targets[1, [sad, happy]] = (0.5, 0.25)
    targets[1, angry] = 0.25
    targets[2, angry] = 1.0
    targets[3, happy] = 1.0
    subset = faces([happy, sad, angry, happy], names, targets).only(("sad", "happy"))
    assert subset.names == ("sad", "happy")
    assert subset.labels.tolist() == [1, 0, 1]
    assert subset.keys.tolist() == ["happy/0.png", "sad/1.png", "happy/3.png"]
    assert np.allclose(subset.targets, [[0, 1], [2 / 3, 1 / 3], [0, 1]])


def test_a_subset_of_an_unknown_label_names_the_labels() -> None:
    with pytest.raises(EdgeemoError, match="'joy' is not a label.*happy"):
        faces([0, 1]).only(("joy", "happy"))


def test_a_subset_model_is_evaluated_on_its_own_labels_only() -> None:
    data = faces([LABELS.index("happy"), LABELS.index("angry"), LABELS.index("sad")])
    chosen = data.for_model(("happy", "sad"), subset=True)
    assert chosen.names == ("happy", "sad") and chosen.labels.tolist() == [0, 1]
    with pytest.raises(EdgeemoError, match="lack"):  # a model not trained on a subset must know every label
        data.for_model(("happy", "sad"))


def test_a_subset_with_no_faces_is_refused() -> None:
    with pytest.raises(EdgeemoError, match="no face of these labels"):
        faces([LABELS.index("happy"), LABELS.index("sad")]).only(("angry", "fear"))


def write_targets(path: Path, keys: list[str], probs: np.ndarray, labels: tuple[str, ...]) -> Path:
    with open(path, "wb") as handle:
        np.savez(handle, keys=np.asarray(keys, dtype=str), probs=probs.astype(np.float32),
                 labels=np.asarray(labels, dtype=str))
    return path


def test_teacher_targets_follow_the_students_faces_and_labels(tmp_path: Path) -> None:
    teacher_labels = ("sad", "happy", "angry")
    probs = np.array([[0.2, 0.6, 0.2], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    path = write_targets(tmp_path / "t.npz", ["a/0.png", "b/1.png", "c/2.png"], probs, teacher_labels)
    student = FaceDataset(np.zeros((2, 48, 48), np.uint8), np.array([0, 1]), "s", 0, ("happy", "sad"), None,
                          np.array(["b/1.png", "a/0.png"], dtype=object))
    got = read_teacher_targets(path, student)
    assert np.allclose(got, [[1 / 3, 2 / 3], [0.75, 0.25]])
    softened = read_teacher_targets(path, student, temperature=2.0)
    assert np.allclose(softened.sum(axis=1), 1.0)
    assert softened[1, 0] < got[1, 0]  # a higher temperature flattens


@pytest.mark.parametrize("keys, probs, labels, message", [
    (["a/0.png"], [[0.5, 0.5]], ("happy", "sad"), "no teacher output for 1 training face"),
    (["a/0.png", "b/1.png"], [[np.nan, 1.0], [0.5, 0.5]], ("happy", "sad"), "finite"),
    (["a/0.png", "b/1.png"], [[0.9, 0.9], [0.5, 0.5]], ("happy", "sad"), "sum to 1"),
    (["a/0.png", "b/1.png"], [[1.0, 0.0], [0.5, 0.5]], ("happy", "angry"), "no 'sad' output"),
    (["a/0.png", "b/1.png"], [[1.0, 0.0], [0.0, 1.0]], ("happy", "sad"), None),
])
def test_bad_teacher_targets_are_refused_with_one_line(tmp_path: Path, keys, probs, labels, message) -> None:
    path = write_targets(tmp_path / "t.npz", keys, np.array(probs, np.float64), labels)
    student = FaceDataset(np.zeros((2, 48, 48), np.uint8), np.array([0, 1]), "s", 0, ("happy", "sad"), None,
                          np.array(["a/0.png", "b/1.png"], dtype=object))
    if message is None:
        assert read_teacher_targets(path, student).shape == (2, 2)
    else:
        with pytest.raises(EdgeemoError, match=message):
            read_teacher_targets(path, student)


def test_a_students_record_pins_its_teacher_file(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    with open(path, "wb") as handle:
        np.savez(handle, keys=np.asarray(["a/0.png"]), probs=np.ones((1, 1), np.float32),
                 labels=np.asarray(["happy"]), model=np.asarray("models/teacher.keras"), tta=np.asarray("none"))
    first = teacher_provenance(path)
    assert first == {"teacher_targets": str(path), "teacher_targets_sha256": file_sha256(path),
                     "teacher_model": "models/teacher.keras", "teacher_tta": "none"}
    older = write_targets(tmp_path / "old.npz", ["a/0.png"], np.ones((1, 1)), ("happy",))  # no model, no tta
    assert set(teacher_provenance(older)) == {"teacher_targets", "teacher_targets_sha256"}
    assert teacher_provenance(older)["teacher_targets_sha256"] != first["teacher_targets_sha256"]


def test_a_file_that_is_not_teacher_targets_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    student = faces([0, 1])
    with pytest.raises(EdgeemoError, match="not a teacher-targets file"):
        read_teacher_targets(junk, student)
    with pytest.raises(EdgeemoError, match="no such file"):
        read_teacher_targets(tmp_path / "absent.npz", student)


def test_mixing_weights_the_teacher() -> None:
    labels = np.array([[1.0, 0.0]], np.float32)
    teacher = np.array([[0.2, 0.8]], np.float32)
    assert np.allclose(mixed_targets(labels, teacher, 0.25), [[0.8, 0.2]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40))
def test_the_roc_curves_area_is_the_auc(pairs: list[tuple[bool, int]]) -> None:
    is_positive = np.array([p for p, _ in pairs])
    scores = np.array([s for _, s in pairs], dtype=float)  # few distinct values: many ties
    if is_positive.all() or not is_positive.any():
        with pytest.raises(ValueError):
            roc_curve(is_positive, scores)
        return
    fpr, tpr = roc_curve(is_positive, scores)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(is_positive, scores))


@pytest.mark.slow
def test_a_binary_distilled_separable_run_through_the_cli(tmp_path: Path) -> None:
    """edgeemo teacher-targets from a 7-class model, then a happy-vs-sad student with them."""
    data = write_folder_dataset(tmp_path / "faces", per_class=8)
    teacher_run, student_run = tmp_path / "teacher", tmp_path / "student"
    trained = run_cli("train", "--data", str(data), "--out", str(teacher_run), "--epochs", "1",
                      "--batch-size", "16", "--precision", "fp32")
    assert trained.returncode == 0, trained.stderr
    targets = tmp_path / "teacher.npz"
    written = run_cli("teacher-targets", "--model", str(teacher_run / "model.keras"), "--data", str(data),
                      "--out", str(targets))
    assert written.returncode == 0, written.stderr
    preset = tmp_path / "student.toml"
    preset.write_text('[model]\nblocks = "separable"\nstem = 8\nwidths = [8, 16]\nconvs_per_stage = [1, 1]\n')
    student = run_cli("train", "--config", str(preset), "--data", str(data), "--out", str(student_run),
                      "--epochs", "1", "--batch-size", "16", "--precision", "fp32", "--classes", "happy,sad",
                      "--activation", "hard_swish", "--teacher-targets", str(targets), "--teacher-weight", "0.7")
    assert student.returncode == 0, student.stderr
    sidecar = json.loads((student_run / "model.json").read_text())
    assert sidecar["labels"] == ["happy", "sad"]
    made_by = sidecar["made_by"]
    assert made_by["classes"] == ["happy", "sad"] and made_by["teacher_weight"] == 0.7
    assert made_by["teacher_targets_sha256"] == file_sha256(targets)
    assert made_by["teacher_model"] == str(teacher_run / "model.keras") and made_by["teacher_tta"] == "flip"
    assert made_by["config"]["activation"] == "hard_swish"
    assert made_by["n_train"] + made_by["n_validation"] == 16
    evaluated = run_cli("evaluate", "--model", str(student_run / "model.keras"), "--data", str(data), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["n"] == 16
    wrong = run_cli("train", "--data", str(data), "--out", str(tmp_path / "bad"), "--epochs", "1",
                    "--teacher-targets", str(tmp_path / "missing.npz"))
    assert wrong.returncode != 0 and "no such file" in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_teacher_file_with_scalars_where_lists_belong_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.npz"
    with open(path, "wb") as handle:
        np.savez(handle, keys=np.asarray("a/0.png"), probs=np.ones((1, 1), np.float32), labels=np.asarray("happy"))
    with pytest.raises(EdgeemoError, match="--teacher-targets"):
        read_teacher_targets(path, faces([LABELS.index("happy"), LABELS.index("sad")]))


def test_flip_tta_averages_each_face_with_its_mirror_and_none_leaves_the_model_alone() -> None:
    from edgeemo.train.predictors import Predictor, with_tta

    def left_brightness(batch: np.ndarray) -> np.ndarray:  # p(first class) = the left half's share of the light
        left = batch[:, :, : batch.shape[2] // 2].sum(axis=(1, 2)).astype(float)
        share = left / batch.sum(axis=(1, 2))
        return np.stack([share, 1 - share], axis=1)

    plain = Predictor(left_brightness, (48, 48), ("a", "b"), "test")
    face = np.ones((1, 48, 48), np.uint8)
    face[:, :, :24] = 3  # three times brighter on the left
    assert with_tta(plain, "none") is plain
    assert np.allclose(plain.predict(face), [[0.75, 0.25]])
    assert np.allclose(with_tta(plain, "flip").predict(face), [[0.5, 0.5]])
    assert plain.predict is left_brightness  # the original predictor is not changed


@pytest.mark.parametrize("text, native", [
    ("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 fma\n", False),  # AVX2 only: bf16 emulated
    ("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n", True),
    ("processor\t: 0\nFeatures\t: fp asimd bf16\n", True),  # not x86: not for this check to judge
])
def test_the_trainer_knows_when_bf16_would_be_emulated(tmp_path: Path, text: str, native: bool) -> None:
    from edgeemo.train.trainer import cpu_has_native_bf16

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert cpu_has_native_bf16(cpuinfo) is native
    assert cpu_has_native_bf16(tmp_path / "absent") is True
