"""Write the closed-loop campaign's request files (committed; rerun only to change them).

For ML.ENERGY v3's Llama-3.1-8B-Instruct on one H100 (lm-arena-chat) at max_num_seqs 64 and 256: the published
output-length histogram, an input length of 256 tokens (the benchmark's assumption, `INPUT_ASSUMED_TOKENS`) and of
1024 (its sensitivity bound), and the two sequences `closed_loop_requests` gives (a = head + tail, b = head + middle
+ tail, head = 1 x max_num_seqs, middle = 2 x), each request arriving at 0 s. Served with every request at once, b -
a is the middle at max_num_seqs running requests: the steady state ML.ENERGY measured.

    python campaigns/next-closed-loop/make_traces.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import published  # noqa: E402

SEQS = (64, 256)
INPUTS = (256, 1024)
POINT = "mlenergy-v3/lm-arena-chat/Llama-3.1-8B-Instruct/H100x1/seqs{seqs}"


def traces() -> dict[str, list[tuple[int, int]]]:
    """File stem -> requests (input, output tokens), in the order they are sent."""
    specs = {(seqs, tokens_in): (1, 2) for seqs in SEQS for tokens_in in INPUTS}
    return published.closed_loop_files(published.load_data()[1], specs, POINT)


def main() -> None:
    folder = HERE / "traces"
    folder.mkdir(exist_ok=True)
    for stem, requests in traces().items():
        (folder / f"{stem}.csv").write_text(published.requests_csv(requests))
        print(stem, len(requests), "requests,", sum(o for _, o in requests), "output tokens")


if __name__ == "__main__":
    main()
