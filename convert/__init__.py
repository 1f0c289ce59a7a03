"""Pruning, int8 conversion, Edge TPU checks and the drift gate (installed as `edgeemo.convert`)."""
