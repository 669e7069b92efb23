"""Prediction: energy of a workload profile from a shipped model (no GPU, no torch)."""
