"""energy-predict: how much energy an LLM deployment will use, from measured GPU data.

`energy_predict.predict(profile) -> Report`, `energy_predict.plan(profile) -> Plan` and
`energy_predict.plan_many(profiles) -> list[Plan]` are the Python API (docs/python-api.md). Nothing is imported
until it is used, so that `import energy_predict` and `energy-predict --help` stay fast.
"""

__version__ = "0.1.0"
__all__ = ["Plan", "Profile", "Report", "__version__", "load_model", "plan", "plan_many", "predict"]

_LAZY = {"Report": ("energy_predict.predict.report_types", "Report"),
         "Profile": ("energy_predict.profile", "Profile"),
         "Plan": ("energy_predict.predict.plan_types", "Plan"),
         "load_model": ("energy_predict.api", "load_model"),
         "plan": ("energy_predict.api", "plan"),
         "plan_many": ("energy_predict.api", "plan_many")}


def __getattr__(name: str):
    import importlib

    if name == "predict":  # the stage's package, callable (energy_predict/predict/__init__.py)
        return importlib.import_module("energy_predict.predict")
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'energy_predict' has no attribute {name!r}")
