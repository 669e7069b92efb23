"""Write the follow-up closed-loop campaign's request files (committed; rerun only to change them).

What `campaigns/next-closed-loop/` left open (docs/measurements/2026-12-07-closed-loop-h100.md):
- at 64 running requests its files (head 1 x, middle 2 x) are short of the steady state: here head 2 x and middle
  4 x (`benchmarks/published.py`'s closed-loop mapping), prompts of 256 and 1,024 tokens;
- our engine would match ML.ENERGY's Llama-3.1-8B runs at prompts of about 540-850 tokens: here 512-token prompts at
  64 and 256 running requests, measured directly.
Same published point, output histogram and a/b construction as the first campaign.

    python campaigns/next-closed-loop-2/make_traces.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import published  # noqa: E402

POINT = "mlenergy-v3/lm-arena-chat/Llama-3.1-8B-Instruct/H100x1/seqs{seqs}"
FILES = {  # (max_num_seqs, prompt tokens): (head, middle) in batches of max_num_seqs
    (256, 512): (1, 2),  # 1 x / 2 x reached the steady state at 256 (x1.00-1.01 against 2 x / 4 x)
    (64, 512): (2, 4),
    (64, 256): (2, 4),
    (64, 1024): (2, 4),
}


def traces() -> dict[str, list[tuple[int, int]]]:
    """File stem -> requests (input, output tokens), in the order they are sent."""
    return published.closed_loop_files(published.load_data()[1], FILES, POINT)


def main() -> None:
    folder = HERE / "traces"
    folder.mkdir(exist_ok=True)
    for stem, requests in traces().items():
        (folder / f"{stem}.csv").write_text(published.requests_csv(requests))
        print(stem, len(requests), "requests,", sum(o for _, o in requests), "output tokens")


if __name__ == "__main__":
    main()
