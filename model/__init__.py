"""Modeling: turn calibration records into estimators of batch energy (runs on any CPU)."""
