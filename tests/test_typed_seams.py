"""No dict or positional tuple crosses a stage boundary: the entry points' signatures say so (issue 24).

The public functions of model fit and load, the resolver, every public function of predict (its replays module
aside: the serving spec's) and the `EnergyModel` protocol take and return typed values. A mapping or a fixed-length
tuple in an annotation fails; a homogeneous `tuple[X, ...]` and lists are sequences, not records, and pass.
"""

import collections.abc
import importlib
import inspect
import typing

import pytest

from energy_predict.fitted import EnergyModel
from tests.conftest import REPO

PREDICT = sorted(p.stem for p in (REPO / "src" / "energy_predict" / "predict").glob("*.py")
                 if not p.stem.startswith("_") and p.stem != "replays")
ENTRY_POINTS = {
    "energy_predict.model.fit": ["fit_model"],
    "energy_predict.model.inputs": ["read_fit_inputs"],
    "energy_predict.model.persistence": ["load_model", "load_default_model", "save_model"],
    "energy_predict.model.resolve": ["resolve"],
    **{f"energy_predict.predict.{m}": None for m in PREDICT},  # None: every public function defined there
}
JSON_DOCUMENTS = {"energy_predict.predict.report_types.report_schema"}  # the schema file's content: JSON by nature


def _records(hint) -> list[str]:
    """The dicts, mappings and fixed-length tuples an annotation holds, anywhere in it."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint in (dict, tuple) or origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return [repr(hint)]
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return [repr(hint)]
    return [found for arg in args if arg is not Ellipsis for found in _records(arg)]


def _functions():
    for name, names in ENTRY_POINTS.items():
        module = importlib.import_module(name)
        if names is None:
            names = [n for n, f in vars(module).items() if inspect.isfunction(f) and not n.startswith("_")
                     and f.__module__ == name]
        for n in names:
            yield f"{name}.{n}", getattr(module, n)
    for n, f in vars(EnergyModel).items():
        if inspect.isfunction(f) and not n.startswith("_"):
            yield f"EnergyModel.{n}", f


FUNCTIONS = sorted(_functions(), key=lambda item: item[0])


@pytest.mark.parametrize(("name", "function"), FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
def test_a_seam_takes_and_returns_typed_values(name, function):
    hints = typing.get_type_hints(function)
    assert "return" in hints, f"{name}: annotate what it returns"
    if name in JSON_DOCUMENTS:
        return
    offenders = {arg: found for arg, hint in hints.items() if (found := _records(hint))}
    assert not offenders, f"{name} takes or returns records that are not typed: {offenders}"


def test_the_check_sees_what_it_should():
    assert _records(dict[str, int]) and _records(tuple[int, int]) and _records(list[dict]) and _records(dict)
    assert _records(tuple[float, float] | None)
    assert not _records(tuple[int, ...]) and not _records(list[int]) and not _records(int | None)
    assert len(FUNCTIONS) > 30 and any(name.startswith("EnergyModel.") for name, _ in FUNCTIONS)
