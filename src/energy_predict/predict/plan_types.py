"""The typed values of a deployment plan: the search space, the targets, each candidate's row and the plan.

Units are in the names: `_ms`, `_w`, `_kwh_per_day`, `_per_s`. Every row says what its energy rests on (`basis`);
a row that misses a target says which and by how much (`Miss`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from energy_predict.serving import Speculation

PRECISIONS = {"bf16": None, "fp8": "fp8"}  # a precision's name -> the serving quantization it means
# an engine's name -> the serving fields it sets (framework, CUDA graphs, compile). HF's `generate` serves fixed
# batches, so `plan` (online) refuses the HF engines with that reason; they are named so that asking is answered.
FRAMEWORKS = {"vllm": ("vllm", True, False), "vllm-eager": ("vllm", False, False), "hf": ("hf", False, False),
              "hf-compile": ("hf", False, True)}
DEFAULT_FRAMEWORK = "vllm"  # vLLM with CUDA graphs: the engine a label leaves unnamed


def framework_name(framework: str, cuda_graphs: bool, compile: bool) -> str | None:
    """The plan's name of an engine (vllm, vllm-eager, hf, hf-compile), or None where plan has no name for it."""
    if framework == "hf":
        cuda_graphs = False  # as Serving normalises it: HF has no CUDA-graph switch of its own
    return next((name for name, fields_ in FRAMEWORKS.items() if fields_ == (framework, cuda_graphs, compile)), None)
MAX_CANDIDATES = 20_000  # a search space beyond this is refused with how to narrow it
MAX_PLAN_REQUESTS = 500_000  # requests in one candidate's simulation (about 100,000 a CPU-second): beyond, refused
DEFAULT_TP = (1, 2, 4, 8)
DEFAULT_MAX_GPUS = 8


@dataclass(frozen=True)
class PlanSpace:
    """The axes the search covers; None takes the default named beside each.

    gpus: the profile's GPU and every GPU the model measured; tp: 1, 2, 4, 8 (those dividing no more than
    max_gpus); precisions: bf16 and fp8; batch_caps: the profile's; token_budgets: the profile's; prefix_caching:
    off, and on too where the workload has prefix reuse; speculative: the profile's (None: no speculation; each
    Speculation names a draft, its draft length and the acceptance the user expects); replicas: 1 .. max_gpus / tp;
    frameworks (names of FRAMEWORKS): the profile's engine and every engine the model measured on the GPUs searched
    that serves online (vllm, vllm-eager; HF only where asked for, and then refused: no continuous-batching server).
    """

    gpus: tuple[str, ...] | None = None
    tp: tuple[int, ...] | None = None
    precisions: tuple[str, ...] | None = None
    batch_caps: tuple[int, ...] | None = None
    token_budgets: tuple[int, ...] | None = None
    prefix_caching: tuple[bool, ...] | None = None
    max_gpus: int = DEFAULT_MAX_GPUS
    speculative: tuple[Speculation | None, ...] | None = None
    frameworks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PlanTargets:
    """What a deployment must meet. Latencies in ms over completed requests; None: no target."""

    ttft_p90_ms: float | None = None
    ttft_p99_ms: float | None = None
    tpot_p90_ms: float | None = None
    tpot_p99_ms: float | None = None
    headroom: float = 0.8  # the offered rate may be at most this share of the rate the deployment sustains
    power_budget_w: float | None = None  # peak power of the whole deployment
    gpu_budget: int | None = None


@dataclass(frozen=True)
class Candidate:
    """One deployment the search may choose: GPU kind, GPUs per engine, engines, precision, scheduler limits, engine.

    `framework`: a name of FRAMEWORKS (vllm: vLLM with CUDA graphs; vllm-eager: without).
    """

    gpu: str
    tp: int
    replicas: int
    precision: str
    batch_cap: int
    token_budget: int
    prefix_caching: bool
    speculative: Speculation | None = None
    framework: str = DEFAULT_FRAMEWORK

    @property
    def gpus(self) -> int:
        return self.tp * self.replicas

    @property
    def label(self) -> str:
        """E.g. '2 x TP4 H100-SXM-80GB bf16 cap 256 budget 8192': engines x GPUs per engine, then the engine.

        The engine is named where it is not vLLM with CUDA graphs ('1 x TP1 H100-SXM-80GB bf16 vllm-eager cap ...').
        """
        engine = f" {self.framework}" if self.framework != DEFAULT_FRAMEWORK else ""
        cache = " prefix-caching" if self.prefix_caching else ""
        spec = f" {self.speculative.label}" if self.speculative else ""
        return (f"{self.replicas} x TP{self.tp} {self.gpu} {self.precision}{engine} cap {self.batch_cap} budget "
                f"{self.token_budget}{cache}{spec}")


@dataclass(frozen=True)
class Miss:
    """A target a candidate misses: its value against the limit (`by`: value / limit, above 1)."""

    target: str
    value: float
    limit: float

    @property
    def by(self) -> float:
        return self.value / self.limit if self.limit else float("inf")

    @property
    def line(self) -> str:
        return f"{self.target} {self.value:.4g} against {self.limit:.4g} ({self.by:.2f}x)"


def _plain_floats(value) -> None:
    """A numpy float64 the simulation left in a field becomes the same plain float; the number is unchanged.

    A typed result's repr then says `7.44`, not `np.float64(7.44)`.
    """
    for f in fields(value):
        v = getattr(value, f.name)
        if isinstance(v, float) and type(v) is not float:
            object.__setattr__(value, f.name, float(v))


@dataclass(frozen=True)
class SiteFigures:
    """A day's energy at the site: facility energy (PUE applied), CO2e and cost where the profile's site gives them."""

    pue: float
    facility_kwh_per_day: float
    co2e_kg_per_day: float | None
    energy_cost_per_day: float | None
    gpu_cost_per_day: float | None  # GPU-hours times the price per GPU-hour, where given
    currency: str | None

    def __post_init__(self) -> None:
        _plain_floats(self)


@dataclass(frozen=True)
class PlanRow:
    """One simulated candidate: energy a day with its 90% interval, latencies, power, and what it rests on."""

    candidate: Candidate
    basis: str  # measured | transferred | extrapolated | analytic
    energy_kwh_per_day: float
    low_kwh_per_day: float
    high_kwh_per_day: float
    busy_kwh_per_day: float
    idle_kwh_per_day: float
    energy_per_request_j: float
    ttft_p90_ms: float | None
    ttft_p99_ms: float | None
    tpot_p90_ms: float | None
    tpot_p99_ms: float | None
    peak_power_w: float
    mean_power_w: float
    utilisation: float  # offered rate / the rate the deployment sustains
    time_busy: float  # share of the period the engines were stepping (not capacity: see utilisation)
    sustainable_rate_per_s: float
    offered_rate_per_s: float
    overloaded: bool
    misses: tuple[Miss, ...] = ()
    site: SiteFigures | None = None
    on_front: bool = False
    recommended: bool = False
    distinguishable: bool = True  # False: its interval overlaps the recommended row's

    def __post_init__(self) -> None:
        _plain_floats(self)

    @property
    def feasible(self) -> bool:
        return not self.misses

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gpus"] = self.candidate.gpus
        d["label"] = self.candidate.label
        d["feasible"] = self.feasible
        if d["sustainable_rate_per_s"] == float("inf"):  # requests the model says cost no time: no bound, null
            d["sustainable_rate_per_s"] = None
        d["misses"] = [{**asdict(m), "by": m.by, "line": m.line} for m in self.misses]
        return d


@dataclass(frozen=True)
class SearchCounts:
    """How the candidates were answered: the sum of the parts is `candidates`."""

    candidates: int
    refused_by_model: int  # no measured or transferred basis (named in the notes)
    refused_by_memory: int  # weights and KV cache do not fit, or a prompt beyond the context
    infeasible_by_bound: int  # a cheap bound (sustainable rate, lone-request latency, idle power) misses a target
    pruned_by_bound: int  # its optimistic energy is above the best row's pessimistic energy: not simulated
    not_needed: int  # more engines than the fewest that meet the targets (energy rises with each idle engine)
    simulated: int
    reused: int  # identical to a simulated one (the batch cap or token budget never bound there)


@dataclass(frozen=True)
class Plan:
    """The plan: the Pareto front (energy, p90 TTFT, p90 TPOT, GPUs, peak power) and the recommended row."""

    profile: str
    model: str
    offered_rate_per_s: float
    targets: PlanTargets
    rows: tuple[PlanRow, ...]  # the front, best energy first (the recommended row is one of them)
    recommended: PlanRow
    why: str
    counts: SearchCounts
    closest_infeasible: tuple[PlanRow, ...] = ()  # a few simulated rows that missed a target, nearest first
    notes: tuple[str, ...] = field(default_factory=tuple)
    # rows left off the front only because a row with more headroom equals them in every objective and interval:
    # (left off, the front row that stands for it), by label
    equal_to_front: tuple[tuple[str, str], ...] = ()
    method: str = ("each candidate: memory check, cheap bounds, then the continuous-batching simulation `--rate` "
                   "runs (trace arrivals or Poisson at the rate); energy a day with the interval of its basis")

    def to_dict(self) -> dict:
        return {"profile": self.profile, "model": self.model, "offered_rate_per_s": self.offered_rate_per_s,
                "targets": asdict(self.targets), "recommended": self.recommended.to_dict(), "why": self.why,
                "front": [r.to_dict() for r in self.rows],
                "closest_infeasible": [r.to_dict() for r in self.closest_infeasible],
                "counts": asdict(self.counts), "notes": list(self.notes),
                "equal_to_front": [{"label": a, "stands_for_it": b} for a, b in self.equal_to_front],
                "method": self.method}

    def to_dataframe(self):
        """The Pareto front as a pandas DataFrame: one row a deployment, the columns of the JSON's front rows.

        The candidate's fields and the site's figures are flattened: `candidate.gpu`, `site.co2e_kg_per_day`, ...
        """
        import pandas as pd  # the plan does not need pandas until a table is asked for

        return pd.json_normalize([r.to_dict() for r in self.rows])

    def to_html(self) -> str:
        """The self-contained HTML page of `energy-predict plan --html FILE`."""
        from energy_predict.predict.html_report import plan_html

        return plan_html(self)
