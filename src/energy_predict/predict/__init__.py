"""Prediction: energy of a workload profile from a shipped model (no GPU, no torch).

The package is also the library's prediction call: `energy_predict.predict(profile)` is
`energy_predict.api.predict(profile)` (an attribute named `predict` on `energy_predict` is this package once it is
imported, so the package itself answers the call).
"""

import sys
import types

if not __name__.startswith("energy_predict."):  # one import name per file: two would be two module objects
    raise ImportError(f"import this stage as energy_predict.predict, not as {__name__}")


class _CallablePackage(types.ModuleType):
    def __call__(self, profile, **options):
        """`energy_predict.api.predict`: the report of a profile (a dict, a path or a Profile)."""
        from energy_predict.api import predict

        return predict(profile, **options)


sys.modules[__name__].__class__ = _CallablePackage
