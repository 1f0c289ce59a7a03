"""Reading a TOML config file into a pydantic model, with every failure as one ConfigError line
naming the file and the key (the device's `edgeemo.toml` and the hub's `hub.toml` alike).

A config is read only from a regular file of at most MAX_CONFIG_BYTES (`--config /dev/zero`,
a FIFO or a folder is one line, at once, not a read that never ends), and no value may hold a
NUL (it would reach a path or a database and fail there, as a traceback) or be `inf`/`nan`
(TOML has both; no duration, rate or share of ours means them).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from edgeemo.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Model = TypeVar("Model", bound=BaseModel)
MAX_CONFIG_BYTES = 1 << 20  # a config with every key and 64 zones is a few KB


class Section(BaseModel):
    """A config table: unknown keys are errors, so a typo never silently falls back to a default;
    floats must be finite, and no text or path may hold a NUL."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)) and "\x00" in str(value):
            raise ValueError("holds a NUL character: remove it")
        return value


def read_config_text(path: Path) -> str:
    """The file's text, read only if it is a regular file of at most MAX_CONFIG_BYTES (opened without
    blocking, so a FIFO is refused rather than waited on)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"{path}: cannot read config ({exc})") from exc
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ConfigError(f"{path}: not a regular file: point --config at a TOML file")
        data = os.read(descriptor, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from exc
    finally:
        os.close(descriptor)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config file")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from exc


def load_toml(path: Path | None, model: type[Model]) -> Model:
    """The validated config from a TOML file (the model's defaults without one)."""
    if path is None:
        return model()
    text = read_config_text(Path(path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except RecursionError:  # tomllib recurses once per level: `a = [[[[...` 100,000 deep
        raise ConfigError(f"{path}: nested too deeply to be a config file") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")  # a validator's own sentence, which names its key
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}: {key + ': ' if key else ''}{message}{more}") from exc
