"""Training settings in one place: the flags come from the config's fields, presets set the same
fields, and the shipped presets are the runs the shipped models' sidecars recorded."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from edgeemo.errors import EdgeemoError
from edgeemo.train.config import AUGMENT_PRESETS, TrainConfig, cli_settings, flag_of, from_settings, read_preset
from tests.conftest import REPO, run_cli

PRESETS = REPO / "train" / "presets"


@pytest.mark.parametrize("preset, model", [("fer_cnn_store.toml", "fer_cnn.json"), ("ferplus_cnn.toml", "ferplus_cnn.json"),
                                           ("ferplus_s.toml", "ferplus_s.json")])
def test_each_shipped_preset_is_the_run_its_model_recorded(preset: str, model: str) -> None:
    config = asdict(from_settings(read_preset(PRESETS / preset), preset))
    # a setting added since the run was recorded takes its default, which must be what the run did
    recorded = asdict(from_settings(json.loads((REPO / "models" / model).read_text())["made_by"]["config"], model))
    # the starting model is named by its path at the time; the preset names where the chain puts it
    differs = {k for k in recorded if k != "init_from" and json.dumps(config[k]) != json.dumps(recorded[k])}
    assert not differs, {k: (config[k], recorded[k]) for k in differs}


def test_the_runs_behind_fer_cnn_are_presets_too() -> None:
    """fer_cnn.json is the store-camera fine-tune of fer_cnn.toml's run, itself a warm restart of the first."""
    made_by = json.loads((REPO / "models" / "fer_cnn.json").read_text())["made_by"]
    for preset in ("fer_cnn.toml", "fer_cnn_scratch.toml"):
        made_by = made_by["init"]["made_by"]
        recorded = asdict(from_settings(made_by["config"], "fer_cnn.json"))
        config = asdict(from_settings(read_preset(PRESETS / preset), preset))
        differs = {k for k in recorded if k != "init_from" and json.dumps(config[k]) != json.dumps(recorded[k])}
        assert not differs, (preset, {k: (config[k], recorded[k]) for k in differs})


def test_every_flag_has_one_default_the_config_s_own(capsys: pytest.CaptureFixture) -> None:
    from edgeemo.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    shown = capsys.readouterr().out
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    for setting in cli_settings():
        assert flag_of(setting) in shown
        if defaults[setting.name] is None:  # no default: the help says what happens instead, never "(default: None)"
            assert "(default: None)" not in shown
        elif setting.name not in ("data", "augment", "init_from", "votes"):
            assert f"(default: {defaults[setting.name]})" in " ".join(shown.split()), setting.name
    assert set(AUGMENT_PRESETS) == set(next(f for f in cli_settings() if f.name == "augment").metadata["choices"])


def test_flags_override_the_preset_which_overrides_the_defaults(tmp_path: Path) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('data = "faces/"\nepochs = 7\nlr = 0.01\naugment = "light"\n[model]\nwidths = [8, 16]\nconvs_per_stage = [1, 2]\n')
    config = from_settings({**read_preset(preset), "epochs": 3}, str(preset))
    assert (config.data, config.epochs, config.lr, config.batch_size) == ("faces/", 3, 0.01, 128)
    assert config.augment == AUGMENT_PRESETS["light"] and config.model.widths == (8, 16)


@pytest.mark.parametrize("text, message", [
    ('data = "x"\nepoch = 3\n', "unknown training setting 'epoch'"),
    ('data = "x"\naugment = "heavy"\n', "augment 'heavy'"),
    ("epochs = 3\n", "--data is required"),
    ('data = "x"\n[model]\ndepth = 3\n', "depth"),
])
def test_a_bad_preset_is_one_line_naming_the_setting(tmp_path: Path, text: str, message: str) -> None:
    preset = tmp_path / "bad.toml"
    preset.write_text(text)
    with pytest.raises(EdgeemoError, match=message):
        from_settings(read_preset(preset), str(preset))
    done = run_cli("train", "--config", str(preset), "--out", str(tmp_path / "run"))
    assert done.returncode != 0 and "Traceback" not in done.stderr and message.split("'")[0] in done.stderr


@pytest.mark.parametrize("preset, num_classes, max_params, max_macs", [
    ("ferplus_s.toml", 8, 600_000, 40_000_000),  # v3 S: a Pi 4's CPU
    ("ferplus_s_conv.toml", 8, 600_000, 40_000_000),  # S with plain convolutions
    ("fer_s.toml", 7, 600_000, 40_000_000),  # its 7-class FER-2013 variant (int8 drift gate missed: not shipped)
    ("fer_s_conv.toml", 7, 600_000, 40_000_000),  # the same with plain convolutions (stopped after 3 epochs)
    ("ferplus_m.toml", 8, 8_000_000, 600_000_000),  # v3 M: a Pi 5's CPU or a Coral (not trained yet)
])
def test_each_family_preset_builds_a_network_within_its_budget(preset: str, num_classes: int, max_params: int,
                                                               max_macs: int) -> None:
    from edgeemo.train.model import build_model, count_macs

    config = from_settings(read_preset(PRESETS / preset), preset)
    model = build_model(config.model, config.input_size, num_classes, config.activation)
    assert model.count_params() <= max_params and count_macs(model) <= max_macs
    assert model.output_shape == (None, num_classes)


def test_train_speed_reports_each_presets_network_and_throughput(tmp_path: Path) -> None:
    import subprocess
    import sys

    preset = tmp_path / "tiny.toml"
    preset.write_text('data = "faces"\nclasses = "happy,sad"\nbatch_size = 4\n[model]\nwidths = [4, 8]\nconvs_per_stage = [1, 1]\n')
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "train_speed.py"), str(preset), "--batches", "1",
                           "--precision", "fp32"], check=False, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["preset"] == str(preset) and row["precision"] == "fp32" and row["blocks"] == "conv"
    assert row["parameters"] < 2_000 and row["macs_per_face"] > 0 and row["images_per_s"] > 0
    preset.write_text("[model]\nwidths = [4]\n")
    refused = subprocess.run([sys.executable, str(REPO / "scripts" / "train_speed.py"), str(preset)], check=False,
                             capture_output=True, text=True, timeout=300, cwd=REPO)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr and str(preset) in refused.stderr
