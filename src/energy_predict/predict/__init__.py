"""Prediction: energy of a workload profile from a shipped model (no GPU, no torch)."""

if not __name__.startswith("energy_predict."):  # one import name per file: two would be two module objects
    raise ImportError(f"import this stage as energy_predict.predict, not as {__name__}")
