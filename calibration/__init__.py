"""Calibration sets for int8 quantization (installed as `edgeemo.calibration`)."""
