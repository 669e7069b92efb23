"""Facts about this machine's GPU links that decide how TP communicates (no vLLM): peer access, the multicast
attribute FlashInfer's MNNVL all-reduce checks, peer copy bandwidth, and NCCL all-reduce latency by size.

  python facts.py OUT_DIR      (NCCL_DEBUG=INFO output goes to OUT_DIR/nccl-*.log)
"""

import ctypes
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

SIZES = [4096, 16384, 65536, 1 << 20, 16 << 20]  # bf16 elements: 8 KB (one decode token of 8B) .. 32 MB


def multicast_attribute(device: int) -> int | None:
    """CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED (132): read-only, creates nothing."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        cuda.cuInit(0)
        handle, value = ctypes.c_int(), ctypes.c_int()
        if cuda.cuDeviceGet(ctypes.byref(handle), device) != 0:
            return None
        if cuda.cuDeviceGetAttribute(ctypes.byref(value), 132, handle) != 0:
            return None
        return value.value
    except OSError:
        return None


def peer_copy_gb_s(src: int, dst: int, mib: int = 256) -> float:
    a = torch.empty(mib << 20, dtype=torch.uint8, device=f"cuda:{src}")
    b = torch.empty_like(a, device=f"cuda:{dst}")
    for _ in range(3):
        b.copy_(a)
    torch.cuda.synchronize(src), torch.cuda.synchronize(dst)
    t = time.perf_counter()
    for _ in range(10):
        b.copy_(a)
    torch.cuda.synchronize(src), torch.cuda.synchronize(dst)
    return 10 * (mib << 20) / (time.perf_counter() - t) / 1e9


def _allreduce(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world)
    out = {}
    for n in SIZES:
        x = torch.ones(n, dtype=torch.bfloat16, device="cuda")
        for _ in range(20):
            dist.all_reduce(x)
        torch.cuda.synchronize()
        reps = 200 if n <= 65536 else 20
        t = time.perf_counter()
        for _ in range(reps):
            dist.all_reduce(x)
        torch.cuda.synchronize()
        out[n * 2] = (time.perf_counter() - t) / reps * 1e6
    # the same small all-reduce captured in a CUDA graph, as vLLM's graphs replay it
    x = torch.ones(4096, dtype=torch.bfloat16, device="cuda")
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        for _ in range(3):
            dist.all_reduce(x)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(64):
            dist.all_reduce(x)
    g.replay()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(20):
        g.replay()
    torch.cuda.synchronize()
    out["graph_8KB_us_each"] = (time.perf_counter() - t) / 20 / 64 * 1e6
    if rank == 0:
        queue.put(out)
    dist.barrier()
    dist.destroy_process_group()


def allreduce_latency_us(label: str, out_dir: Path, env: dict) -> dict:
    os.environ.update(env, NCCL_DEBUG="INFO", NCCL_DEBUG_FILE=str(out_dir / f"nccl-{label}.%h.%p.log"))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allreduce, args=(r, 2, 29500 + len(label), queue)) for r in range(2)]
    for p in procs:
        p.start()
    result = queue.get(timeout=120)
    for p in procs:
        p.join(30)
    for k in env:
        os.environ.pop(k, None)
    return result


def main() -> None:
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    n = torch.cuda.device_count()
    facts = {"devices": [torch.cuda.get_device_name(i) for i in range(n)],
             "env": {k: v for k, v in os.environ.items() if k.startswith(("NCCL", "TORCH_SYMM", "NVSHMEM", "CUDA"))},
             "can_access_peer": {f"{i}->{j}": torch.cuda.can_device_access_peer(i, j)
                                 for i in range(n) for j in range(n) if i != j},
             "multicast_supported_attribute": {i: multicast_attribute(i) for i in range(n)}}
    if n >= 2:
        facts["peer_copy_gb_s"] = {"0->1": peer_copy_gb_s(0, 1), "1->0": peer_copy_gb_s(1, 0)}
        facts["nccl_allreduce_us_by_bytes"] = allreduce_latency_us("default", out_dir, {})
        facts["nccl_allreduce_us_by_bytes_p2p_disabled"] = allreduce_latency_us("nop2p", out_dir,
                                                                                {"NCCL_P2P_DISABLE": "1"})
    (out_dir / "facts.json").write_text(json.dumps(facts, indent=1))
    print(json.dumps(facts, indent=1))


if __name__ == "__main__":
    main()
