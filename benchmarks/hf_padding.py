"""What does left padding cost HF `generate`? (GPU; explains the HF offline replay gap, issue 7)

Same batch shape (B, I, O), Llama-3.1-8B shape, sdpa attention, three attention masks:
- ones: no padding (what the calibration cells use; transformers then passes no mask and SDPA runs causal);
- pad1: one row one token shorter (a mask is present, almost nothing is padded);
- padded: row lengths uniform in [I/3, I], left-padded (what a batch of real requests looks like).
Each variant: a warm-up, then `REPS` metered runs. Then a torch profile of one padded and one unpadded decode-heavy
call lists the top CUDA kernels. Writes JSON lines to $OUT/hf_padding.jsonl as it goes (or to stdout).
Run: PYTHONPATH=. python3 benchmarks/hf_padding.py [NVML_INDEX]
"""

import json
import os
import sys
import time

from energy_predict.architectures import REGISTRY
from energy_predict.calibrate.backends.hf import HFBackend
from energy_predict.calibrate.grid import ServingConfig
from energy_predict.calibrate.meter import NvmlMeter

REPS = 2
CELLS = [(16, 2048, 32), (16, 2048, 1), "profile", (16, 7436, 16), (16, 7436, 1)]  # most telling first


def main() -> None:
    out_path = os.path.join(os.environ.get("OUT", "."), "hf_padding.jsonl")
    backend = HFBackend()
    backend.load(REGISTRY["Llama-3.1-8B"], ServingConfig(name="hf-eager", backend="hf"))
    torch, model = backend.torch, backend.model
    meter = NvmlMeter([int(sys.argv[1]) if len(sys.argv) > 1 else 0], sync=backend.synchronize)

    def batch(b: int, i: int, variant: str):
        gen = torch.Generator().manual_seed(b * 7 + i)
        ids = torch.randint(3, backend.vocab_size - 1, (b, i), generator=gen)
        lengths = torch.full((b,), i)
        if variant == "pad1":
            lengths[0] = i - 1
        elif variant == "padded":
            lengths = torch.randint(i // 3, i + 1, (b,), generator=gen)
            lengths[0] = i
        mask = (torch.arange(i)[None, :] >= (i - lengths)[:, None]).long()
        ids = ids * mask
        return ids.to(backend.device), mask.to(backend.device)

    def generate(ids, mask, o: int) -> None:
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=o, min_new_tokens=o, pad_token_id=0,
                           eos_token_id=2, do_sample=False, disable_compile=True)
        backend.synchronize()

    def profile_kernels(out) -> None:
        from torch.profiler import ProfilerActivity, profile

        for variant in ("ones", "padded"):
            ids, mask = batch(16, 2048, variant)
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                generate(ids, mask, 8)
            table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=12, max_name_column_width=70)
            print(f"== profile {variant} (16, 2048, 8)\n{table}", flush=True)
            out.write(json.dumps({"profile": variant, "table": table}) + "\n")
            out.flush()

    with open(out_path, "a") as out:
        for cell in CELLS:
            if cell == "profile":
                profile_kernels(out)
                continue
            b, i, o = cell
            for variant in ("ones", "pad1", "padded"):
                if variant == "pad1" and i > 4096:
                    continue
                ids, mask = batch(b, i, variant)
                generate(ids, mask, o)
                for rep in range(REPS):
                    with meter.window() as window:
                        t0 = time.perf_counter()
                        generate(ids, mask, o)
                        wall = time.perf_counter() - t0
                    r = window.reading
                    row = {"b": b, "i": i, "o": o, "variant": variant, "rep": rep, "wall_s": wall,
                           "energy_j": r.energy_j, "duration_s": r.duration_s, "mean_power_w": r.mean_power_w,
                           "padded_tokens": int((mask == 0).sum())}
                    print(json.dumps(row), flush=True)
                    out.write(json.dumps(row) + "\n")
                    out.flush()


if __name__ == "__main__":
    main()
