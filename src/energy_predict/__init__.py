"""energy-predict: how much energy an LLM deployment will use, from measured GPU data."""

__version__ = "0.1.0"
