"""Ceiling bins: the reference study's and an extended set for long contexts and outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REFERENCE_INPUT_BINS = (32, 128, 256, 512, 1024, 2048, 4096, 8192)
REFERENCE_OUTPUT_BINS = (8, 16, 32, 64, 128, 256, 512)
EXTENDED_INPUT_BINS = REFERENCE_INPUT_BINS + (16384, 32768, 65536, 131072)
EXTENDED_OUTPUT_BINS = REFERENCE_OUTPUT_BINS + (1024, 2048, 4096)


@dataclass(frozen=True)
class BinSet:
    """Input and output ceiling bins."""

    name: str
    input_bins: tuple[int, ...]
    output_bins: tuple[int, ...]


BIN_SETS = {
    "reference": BinSet("reference", REFERENCE_INPUT_BINS, REFERENCE_OUTPUT_BINS),
    "extended": BinSet("extended", EXTENDED_INPUT_BINS, EXTENDED_OUTPUT_BINS),
}


def ceiling_bin(values, bins: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each value's ceiling bin (smallest bin >= value) and whether it lies within the bins.

    Values above the largest bin keep their own length and are flagged out of range, so a caller can
    count and report them instead of dropping them.
    """
    v = np.asarray(values, dtype=np.int64)
    edges = np.asarray(bins, dtype=np.int64)
    idx = np.searchsorted(edges, v, side="left")
    in_range = idx < len(edges)
    binned = np.where(in_range, edges[np.minimum(idx, len(edges) - 1)], v)
    return binned, in_range
