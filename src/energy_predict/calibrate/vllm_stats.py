"""vLLM's running and waiting request counts, read from its stats lines (pure: text in, typed values out).

With stat logging on, vLLM logs one line per `VLLM_LOG_STATS_INTERVAL` seconds (10 by default) while it works:
"Engine 000: Avg prompt throughput: 7244.9 tokens/s, ..., Running: 508 reqs, Waiting: 516 reqs, GPU KV cache
usage: 16.0%, ...". The counts are a snapshot at the line's time. At start-up it logs its KV capacity
("GPU KV cache size: 444,896 tokens"). A calibration log (`energy-predict calibrate` to a file) also has one line
per finished cell ("calibrate 3/10: CONFIG MODEL B=1024 I=256 O=256 ok"), written after the cell's warm-up and
repetitions: the stats lines before it (after the previous cell's) are that cell's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

_COUNTS = re.compile(r"Running: (?P<running>\d+) reqs, Waiting: (?P<waiting>\d+) reqs")
_PROMPT = re.compile(r"Avg prompt throughput: (?P<tps>[\d.]+) tokens/s")
_KV_USE = re.compile(r"GPU KV cache usage: (?P<pct>[\d.]+)%")
_STAMP = re.compile(r"\b(?:INFO|WARNING|DEBUG|ERROR)\s+(?P<md>\d\d-\d\d) (?P<hms>\d\d:\d\d:\d\d)")
_CAPACITY = re.compile(r"GPU KV cache size: (?P<tokens>[\d,]+) tokens")
_CELL = re.compile(r"^calibrate (?P<done>\d+)/(?P<total>\d+): (?P<config>\S+) (?P<model>\S+) "
                   r"B=(?P<b>\d+) I=(?P<i>\d+) O=(?P<o>\d+) (?P<status>\S+)")


@dataclass(frozen=True)
class StatsSample:
    """One stats line: the engine's request counts when it was logged.

    `t_s`: seconds on the log's clock (seconds since some origin; only differences matter).
    `prompt_tokens_per_s`: new prompt tokens over the line's interval (vLLM counts a request's prompt once, when it
    first starts, so a preempted request that resumes adds none). `kv_usage_pct`: the share of KV blocks in use.
    """

    t_s: float
    running: int
    waiting: int
    prompt_tokens_per_s: float | None = None
    kv_usage_pct: float | None = None


@dataclass(frozen=True)
class LoggedCell:
    """The stats lines of one calibration cell (its warm-up and every repetition), in log order.

    `done` is None for the lines after the last cell line: the cell a stopped run was in (not named by the log).
    """

    done: int | None
    config: str | None
    model: str | None
    batch_size: int | None
    input_tokens: int | None
    output_tokens: int | None
    status: str | None
    samples: tuple[StatsSample, ...]


@dataclass(frozen=True)
class RunningSummary:
    """What the engine kept running over some stats lines; every field None (and `null_reason` set) when none.

    `running_mean` is time-weighted: each snapshot counts until the next (the last for the median interval).
    `preempted`: the running count fell while requests waited and no new prompt started in that interval (vLLM
    preempted running sequences for KV blocks, rather than a new batch being admitted after the last one ended).
    """

    samples: int
    running_max: int | None
    running_mean: float | None
    waiting_max: int | None
    preempted: bool | None
    null_reason: str | None = None

    def record_fields(self) -> dict:
        """The fields a calibration record carries (`CalibrationRecord.running_*`)."""
        return {"running_max": self.running_max, "running_mean": self.running_mean, "waiting_max": self.waiting_max,
                "preempted": self.preempted, "running_samples": self.samples, "running_null_reason": self.null_reason}


def parse_stats_message(message: str, t_s: float) -> StatsSample | None:
    """The counts in one stats message (a log line, or a logging record's message), or None if it is not one."""
    counts = _COUNTS.search(message)
    if counts is None:
        return None
    prompt, kv = _PROMPT.search(message), _KV_USE.search(message)
    return StatsSample(t_s=t_s, running=int(counts["running"]), waiting=int(counts["waiting"]),
                       prompt_tokens_per_s=float(prompt["tps"]) if prompt else None,
                       kv_usage_pct=float(kv["pct"]) if kv else None)


def _clock_s(line: str) -> float | None:
    """Seconds since 1 January 2000 of a vLLM log line's "MM-DD HH:MM:SS" stamp (the year is not logged)."""
    stamp = _STAMP.search(line)
    if stamp is None:
        return None
    # a leap year, so that a 02-29 stamp parses; a log that spans New Year would run backwards (none does)
    at = datetime.strptime(f"2000-{stamp['md']} {stamp['hms']}", "%Y-%m-%d %H:%M:%S")
    return (at - datetime(2000, 1, 1)).total_seconds()


def parse_stats_line(line: str) -> StatsSample | None:
    """One log line's counts, timed by its stamp; None for any other line (or a stats line without a stamp)."""
    t = _clock_s(line)
    return None if t is None else parse_stats_message(line, t)


def kv_capacities_tokens(lines: Iterable[str]) -> list[int]:
    """Every "GPU KV cache size: N tokens" in a log (one per engine started), in order."""
    return [int(m["tokens"].replace(",", "")) for m in map(_CAPACITY.search, lines) if m]


def split_cells(lines: Iterable[str]) -> list[LoggedCell]:
    """A calibration log's stats lines, grouped by the cell line that follows them.

    Lines after the last cell line form a last group with `done` None (a run stopped inside a cell) if there are any.
    """
    cells: list[LoggedCell] = []
    pending: list[StatsSample] = []
    for line in lines:
        sample = parse_stats_line(line)
        if sample is not None:
            pending.append(sample)
            continue
        cell = _CELL.match(line.strip())
        if cell is not None:
            cells.append(LoggedCell(int(cell["done"]), cell["config"], cell["model"], int(cell["b"]), int(cell["i"]),
                                    int(cell["o"]), cell["status"], tuple(pending)))
            pending = []
    if pending:
        cells.append(LoggedCell(None, None, None, None, None, None, None, tuple(pending)))
    return cells


def _weights_s(samples: Sequence[StatsSample]) -> list[float]:
    gaps = [b.t_s - a.t_s for a, b in zip(samples, samples[1:])]
    positive = sorted(g for g in gaps if g > 0)
    last = positive[(len(positive) - 1) // 2] if positive else 1.0  # the lower median: the logging interval
    return [max(g, 0.0) for g in gaps] + [last]


def _preempted(samples: Sequence[StatsSample]) -> bool | None:
    """Did the running count fall while requests waited, in an interval that started no new prompt?"""
    unknown = False
    for a, b in zip(samples, samples[1:]):
        if b.waiting > 0 and b.running < a.running:
            if b.prompt_tokens_per_s is None:
                unknown = True
            elif b.prompt_tokens_per_s == 0.0:
                return True
    return None if unknown else False


def summarize(samples: Sequence[StatsSample]) -> RunningSummary:
    """Peak and time-weighted mean running count, peak waiting count and preemption over some stats lines."""
    if not samples:
        return RunningSummary(0, None, None, None, None,
                              null_reason="no vLLM stats line in the window (log_stats off, or the window shorter "
                                          "than VLLM_LOG_STATS_INTERVAL, 10 s by default)")
    weights = _weights_s(samples)
    total = sum(weights)
    mean = (sum(w * s.running for w, s in zip(weights, samples)) / total if total > 0
            else sum(s.running for s in samples) / len(samples))
    return RunningSummary(samples=len(samples), running_max=max(s.running for s in samples),
                          running_mean=round(mean, 1), waiting_max=max(s.waiting for s in samples),
                          preempted=_preempted(samples))


def watch_logger(name: str = "vllm") -> Callable[[], list[StatsSample]]:
    """Collect the stats lines logged to logger `name` (and its children) from now; call the result to stop.

    vLLM's offline engine logs its stats in the calling process (its `vllm.v1.metrics` loggers), so a handler on
    the "vllm" logger sees them while a cell runs. The handler is removed when the returned function is called.
    """
    import logging

    samples: list[StatsSample] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            sample = parse_stats_message(record.getMessage(), record.created)
            if sample is not None:
                samples.append(sample)

    logger = logging.getLogger(name)
    handler = _Collect(level=logging.DEBUG)
    logger.addHandler(handler)

    def stop() -> list[StatsSample]:
        logger.removeHandler(handler)
        return list(samples)

    return stop
