"""Inference engines behind one small protocol; each imports its framework lazily."""
