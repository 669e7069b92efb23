"""energy-predict: how much energy an LLM deployment will use, from measured GPU data."""

from pathlib import Path as _Path

__version__ = "0.1.0"

# In a source checkout the stages live beside this package (calibrate/, model/, predict/, artifacts/);
# installed, they are inside it. Extending __path__ makes `energy_predict.calibrate` importable from a
# plain checkout on PYTHONPATH (the GPU machine has no package index to build and install from).
_root = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "calibrate").is_dir() and (_root / "calibrate" / "__init__.py").is_file():
    __path__.append(str(_root))
