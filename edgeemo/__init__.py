"""edgeemo: facial-emotion analytics on the edge (Raspberry Pi, Coral Edge TPU)."""

from pathlib import Path as _Path

__version__ = "0.1.0"

# In a source checkout the stages are siblings of this folder (train/ is edgeemo.train, as
# pyproject's package-dir maps them). Run from the checkout's root, `python -m edgeemo` finds
# this folder before any installed copy, so make the siblings findable as subpackages too.
_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "edge" / "__init__.py").is_file():
    __path__.append(str(_checkout))
