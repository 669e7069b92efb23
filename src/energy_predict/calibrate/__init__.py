"""Calibration: measure real inference energy on a GPU (needs the `calibrate` extra)."""

if not __name__.startswith("energy_predict."):  # one import name per file: two would be two module objects
    raise ImportError(f"import this stage as energy_predict.calibrate, not as {__name__}")
