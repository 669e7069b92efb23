"""Cells as frames: one row per (deployment, batch, input, output), with physical features.

The same frame describes a calibration record (for fitting) and a workload bin (for prediction), so
every estimator sees identical columns. Architecture and GPU figures travel as columns; `deployments`
rebuilds the objects for the analytic terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields
from typing import TYPE_CHECKING

import numpy as np

from energy_predict import flops
from energy_predict.architectures import Architecture
from energy_predict.baselines import roofline_batch
from energy_predict.contracts.keys import FitKey
from energy_predict.gpus import GPU, resolve_gpu
from energy_predict.precision import PRECISIONS, precision_of
from energy_predict.serving import KEY_FIELDS, Serving

if TYPE_CHECKING:
    import pandas as pd

ARCH_COLUMNS = [f.name for f in fields(Architecture) if f.name != "name"]
SERVING_COLUMNS = list(KEY_FIELDS)
CELL_COLUMNS = ["batch_size", "input_tokens", "output_tokens"]


def cell_frame(arch: Architecture, gpu: GPU, serving: Serving, batch_size, input_tokens, output_tokens,
               cached_tokens=0) -> pd.DataFrame:
    """Rows for the given cells (arrays broadcast) of one deployment.

    `cached_tokens`: each request's prompt prefix found in the prefix cache (column `cached_tokens`, absent in
    measured cells, which ran with caching off: read as 0).
    """
    import pandas as pd  # frames are for fitting and scoring; a prediction builds none

    b, i, o, c = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, np.int64))
                                       for v in (batch_size, input_tokens, output_tokens, cached_tokens)))
    frame = pd.DataFrame({"batch_size": b, "input_tokens": i, "output_tokens": o})
    if c.any():
        frame["cached_tokens"] = c
    frame["model"] = arch.name
    frame["gpu"] = gpu.name
    for key, value in asdict(arch).items():
        if key != "name":
            frame[key] = value
    frame["backend"] = serving.framework  # the calibration records' name for the framework
    for key, value in zip(KEY_FIELDS, serving.key):
        frame[key] = pd.Series([value] * len(frame), dtype=object)
    frame["precision"] = serving.precision.name  # the key's quantization, or the dtype (not in the key)
    return frame


def precisions(frame: pd.DataFrame) -> np.ndarray:
    """Each row's precision name (`energy_predict.precision`); a frame without the column: its key's."""
    if "precision" in frame:
        return frame["precision"].to_numpy()
    return np.array([precision_of(q).name for q in frame["quantization"].tolist()], dtype=object)


def precision_column(frame: pd.DataFrame, what: str) -> np.ndarray:
    """A figure of each row's precision (`weight_bytes_per_param`, `kv_bytes_per_value`), as floats."""
    return np.array([getattr(PRECISIONS[name], what) for name in precisions(frame)], dtype=float)


def factorize(keys) -> tuple[np.ndarray, list]:
    """(codes, uniques) of hashable values such as key tuples (pandas would turn tuples into a MultiIndex)."""
    seen: dict = {}
    codes = np.fromiter((seen.setdefault(k, len(seen)) for k in keys), np.int64, len(keys))
    return codes, list(seen)


def config_keys(X: pd.DataFrame) -> pd.Series:
    """Each row's fit key in the coefficient tables' form, (GPU, *`Serving.key`) (`FitKey.flat`)."""
    import pandas as pd  # frames are for fitting and scoring; a prediction builds none

    return pd.Series(list(zip(X["gpu"].tolist(), *(X[c].tolist() for c in KEY_FIELDS))), index=X.index, dtype=object)


def fit_keys(X: pd.DataFrame) -> pd.Series:
    """The `FitKey` of each row."""
    return config_keys(X).map(FitKey.from_flat)


def deployment_keys(X: pd.DataFrame) -> pd.Series:
    """(configuration key, model name) of each row."""
    import pandas as pd  # frames are for fitting and scoring; a prediction builds none

    return pd.Series(list(zip(config_keys(X).tolist(), X["model"].tolist())), index=X.index, dtype=object)


def deployments(frame: pd.DataFrame) -> Iterator[tuple[Architecture, GPU, np.ndarray]]:
    """(architecture, GPU, row positions) for each distinct deployment in the frame."""
    keys = ["model", "gpu", *ARCH_COLUMNS]
    for values, idx in frame.groupby(keys, sort=False).indices.items():
        dims = dict(zip(keys, values))
        arch = Architecture(name=dims.pop("model"), **{k: dims[k] for k in ARCH_COLUMNS})
        yield arch, resolve_gpu(dims["gpu"]), np.asarray(idx)


def cached_tokens(frame: pd.DataFrame) -> np.ndarray:
    """Each row's prompt tokens served from the prefix cache (0 where the frame has no such column)."""
    if "cached_tokens" not in frame:
        return np.zeros(len(frame))
    return frame["cached_tokens"].fillna(0).to_numpy(float)


def physical_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Analytic terms of each cell: FLOPs, bytes and roofline times per phase, for the whole batch."""
    import pandas as pd  # frames are for fitting and scoring; a prediction builds none

    out = pd.DataFrame(index=frame.index)
    cols = {k: np.zeros(len(frame)) for k in
            ("prefill_flops", "decode_flops", "prefill_bytes", "decode_bytes", "roofline_prefill_s",
             "roofline_decode_s", "active_params", "peak_flops", "bandwidth_bps", "tdp_w")}
    names = precisions(frame)
    for arch, gpu, rows in deployments(frame):
        for name in dict.fromkeys(names[rows]):  # precisions of one model differ in bytes and peak FLOP/s
            p = PRECISIONS[name]
            idx = rows[names[rows] == name]
            sub = frame.iloc[idx]
            b = sub["batch_size"].to_numpy(float)
            i = sub["input_tokens"].to_numpy(float)
            o = sub["output_tokens"].to_numpy(float)
            c = cached_tokens(sub)
            bpp, kv = p.weight_bytes_per_param, p.kv_bytes_per_value
            steps = np.maximum(o - 1, 0)
            cols["prefill_flops"][idx] = b * flops.prefill_flops(arch, i, cached_tokens=c)
            cols["decode_flops"][idx] = b * flops.decode_flops(arch, i, o)
            cols["prefill_bytes"][idx] = flops.prefill_bytes(arch, b, i, bpp, c, kv)
            # decode bytes: weights every step plus the KV cache read at the mean context
            cols["decode_bytes"][idx] = steps * flops.decode_step_bytes(arch, b, i + (o / 2), bpp, kv)
            roof = roofline_batch(arch, gpu, b, i, o, p, c)
            cols["roofline_prefill_s"][idx] = roof.prefill_s
            cols["roofline_decode_s"][idx] = roof.decode_s
            cols["active_params"][idx] = arch.active_params
            cols["peak_flops"][idx] = p.peak_flops(gpu)
            cols["bandwidth_bps"][idx] = gpu.memory_bandwidth_bps
            cols["tdp_w"][idx] = gpu.tdp_w
    for k, v in cols.items():
        out[k] = v
    return out
