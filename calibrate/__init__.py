"""Calibration: measure real inference energy on a GPU (needs the `calibrate` extra)."""
