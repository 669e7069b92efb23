"""Hugging Face transformers backend: `generate` on a model built from its config with random weights.

Exactly O new tokens: min_new_tokens = max_new_tokens = O, so EOS cannot end a sequence early.
torch.compile: `cache_implementation="static"` makes `generate` compile the forward pass itself
(hand-wrapping `model.forward` in torch.compile fails on CUDA-graph buffer reuse); the first call of each
shape compiles, which is why every shape is warmed up before it is measured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from energy_predict.architectures import Architecture, to_hf_config
from energy_predict.calibrate.backends.base import CellInfeasible, Request
from energy_predict.calibrate.grid import Cell, ServingConfig


class HFBackend:
    name = "hf"

    def __init__(self, device: str | None = None) -> None:
        import torch

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = None
        self.config: ServingConfig | None = None
        self.vocab_size = 0

    def load(self, arch: Architecture, config: ServingConfig) -> None:
        import transformers

        torch = self.torch
        hf_config = transformers.AutoConfig.for_model(**to_hf_config(arch))
        dtype = getattr(torch, config.dtype)
        torch.manual_seed(0)
        with torch.device(self.device):  # initialise on the device: random init of 8B on a CPU takes minutes
            model = transformers.AutoModelForCausalLM.from_config(
                hf_config, dtype=dtype, attn_implementation=config.engine.attn_implementation)
        self.model = model.eval()
        self.config = config
        self.vocab_size = arch.vocab_size

    def reconfigure(self, config: ServingConfig) -> None:
        """Serve the next configs' cells with the loaded model (equal engine fields; only decoding differs)."""
        self.config = config

    def _generate_kwargs(self, cell: Cell) -> dict:
        c = self.config
        kwargs = dict(max_new_tokens=cell.output_tokens, min_new_tokens=cell.output_tokens, pad_token_id=0,
                      eos_token_id=2, num_beams=1, do_sample=False)
        if c.decoding == "sampling":
            kwargs.update(do_sample=True, temperature=1.0, top_p=0.95)
        elif c.decoding == "beam":
            kwargs.update(num_beams=c.beam_width, early_stopping=False)
        if c.compile:
            kwargs["cache_implementation"] = "static"
        else:
            kwargs["disable_compile"] = True
        return kwargs

    def prepare(self, cell: Cell) -> Callable[[], int]:
        torch = self.torch
        gen = torch.Generator(device="cpu").manual_seed(cell.batch_size * 100003 + cell.input_tokens)
        ids = torch.randint(3, self.vocab_size - 1, (cell.batch_size, max(cell.input_tokens, 1)), generator=gen)
        ids = ids.to(self.device)
        mask = torch.ones_like(ids)
        kwargs = self._generate_kwargs(cell)
        model = self.model

        def run() -> int:
            try:
                with torch.inference_mode():
                    out = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
            except torch.OutOfMemoryError as exc:
                self._free()
                raise CellInfeasible(f"out of memory: {str(exc).splitlines()[0]}") from None
            return int(out.shape[1] - ids.shape[1])

        return run

    def prepare_batch(self, requests: Sequence[Request]) -> Callable[[], None]:
        """One `generate` over the requests: left-padded to the longest prompt, run for the longest output.

        What `generate` does with a batch of real requests (its padding is what replays measure), greedy, no
        compile.
        """
        torch = self.torch
        width = max(len(r.prompt_token_ids) for r in requests)
        ids = torch.zeros((len(requests), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, r in enumerate(requests):
            ids[row, width - len(r.prompt_token_ids):] = torch.tensor(r.prompt_token_ids, dtype=torch.long)
            mask[row, width - len(r.prompt_token_ids):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        o = max(r.output_tokens for r in requests)
        model = self.model

        def run() -> None:
            with torch.inference_mode():
                model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=o, min_new_tokens=o,
                               pad_token_id=0, eos_token_id=2, do_sample=False, disable_compile=True)

        return run

    def prepare_serve(self, requests: Sequence[Request], arrival_s: Sequence[float]) -> Callable[[], None]:
        """HF `generate` has no serving loop: online replays need vLLM (plan_replays refuses them first)."""
        raise NotImplementedError("online serving needs a serving engine: use the vllm backend")

    def _free(self) -> None:
        import gc

        gc.collect()
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def close(self) -> None:
        self.model = None
        self._free()

    def versions(self) -> dict[str, str]:
        import transformers

        torch = self.torch
        return {"torch": torch.__version__, "transformers": transformers.__version__,
                "cuda": str(torch.version.cuda), "device": self.device}
