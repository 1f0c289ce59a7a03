"""Config files a user can get wrong, or an adversary can point a command at (issue 34, F14): a NUL in a
path, /dev/zero, a FIFO, a huge or deeply nested file, `inf` and `nan` are each one line and exit 78, at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize("text, key", [
    ('[store]\npath = "/tmp/edgeemo\\u0000.db"\n', "store.path"),
    ('[source]\nuri = "rtsp://cam\\u0000"\n', "source.uri"),
    ('store_id = "s"\n[mqtt]\npassword = "a\\u0000b"\n', "mqtt.password"),
])
def test_a_nul_in_a_device_setting_is_refused_by_validate_config(tmp_path: Path, text: str, key: str) -> None:
    """A NUL in [store] path passed --validate-config; `run` then crashed with a traceback, every 5 s."""
    config = tmp_path / "edgeemo.toml"
    config.write_text(text)
    done = run_cli("run", "--validate-config", "--config", str(config), timeout=120)
    assert done.returncode == 78 and done.stderr.count("\n") == 1, done.stderr
    assert key in done.stderr and "NUL" in done.stderr


@pytest.mark.parametrize("key", ["[ingest]\nstall_after_s", "[gaps]\nfirst_request_after_s", "[gaps]\nmax_backoff_s",
                                 "[ingest]\ndevice_rate_per_s", "[ingest]\nmax_skew_s", "[retention]\nupkeep_every_s",
                                 "[web]\nsession_hours", "[estimates]\nprecision_floor"])
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_inf_and_nan_are_refused_for_every_hub_float(tmp_path: Path, key: str, value: str) -> None:
    from edgeemo.errors import ConfigError
    from edgeemo.hub.config import load_config

    config = tmp_path / "hub.toml"
    config.write_text(f"{key} = {value}\n")
    with pytest.raises(ConfigError, match=key.split("\n")[1]) as caught:
        load_config(config)
    assert "\n" not in str(caught.value)


def test_a_device_float_that_is_inf_is_refused(tmp_path: Path) -> None:
    from edgeemo.edge.config import load_config
    from edgeemo.errors import ConfigError

    config = tmp_path / "edgeemo.toml"
    config.write_text("[store]\ncommit_every_s = nan\n")
    with pytest.raises(ConfigError, match="store.commit_every_s: Input should be a finite number"):
        load_config(config)


def test_a_config_that_is_no_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    """`--config /dev/zero` read for ever; a FIFO would wait for a writer for ever."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    huge.write_text("# padding\n" * 200_000)
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")  # found by the second pass: a RecursionError
    cases = {"/dev/zero": "not a regular file", str(fifo): "not a regular file", str(tmp_path): "not a regular file",
             str(huge): "larger than 1024 KiB", str(deep): "nested too deeply"}
    for path, message in cases.items():
        done = run_cli("run", "--validate-config", "--config", path, timeout=60)  # a hang fails by the timeout
        assert done.returncode == 78 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
        done = run_cli("hub", "upkeep", "--config", path, "--db", str(tmp_path / "hub.db"), timeout=60)
        assert done.returncode == 78 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
