"""Modeling: turn calibration records into estimators of batch energy (runs on any CPU)."""

if not __name__.startswith("energy_predict."):  # one import name per file: two would be two module objects
    raise ImportError(f"import this stage as energy_predict.model, not as {__name__}")
