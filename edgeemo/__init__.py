"""edgeemo: facial-emotion analytics on the edge (Raspberry Pi, Coral Edge TPU)."""

__version__ = "0.1.0"
