"""Measured calibration data and fitted models that ship with energy-predict (data only)."""
