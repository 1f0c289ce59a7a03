"""Shipped models, their sidecars and the model card (package data)."""
