"""``sutazai plan``: how many slots, how much context and how many replicas a fleet needs on CPU,
and what it will get (throughput, interactive time to first token), from a small cost model.

The model, per engine (llama-server or Ollama's runner, continuous batching):

- decoding B sequences takes a step of ``t0 + t1 * B`` seconds (weights read once a step, work per
  sequence); on CPU both grow with the model's size and shrink with threads;
- prefill runs at ``prefill_rate`` tokens a second and shares the cores with decoding;
- a request costs its uncached prompt tokens of prefill and its output tokens of decoding, so at
  full load ``r`` requests a second satisfy ``r * (prompt / prefill_rate) + r * out * step(B) / B = 1``;
- an interactive request has a slot held for it (``reserved_interactive``), so the fleet gets the
  other slots and an interactive first token never waits behind the fleet's queue. It waits for
  three things (:class:`InteractiveLatency`): a slot it may use, which another interactive request
  can be holding (Erlang C's chance of waiting, then the first of that slot or a background slot
  to free); the background prompts the engine is prefilling when it lands (a batch is not
  interrupted, and a prompt arriving meanwhile shares the next one); and its own prefill, batched
  with one decode step of the busy slots.

The constants come from a reference measurement (SmolLM2-135M Q4_1, 98 MB, on 2 cores: 1 stream
~120 tokens/s, 24 slots ~170 tokens/s aggregate, prefill ~240 tokens/s), scaled by model size and
cores, or from ``calibrate`` against the running engine (seconds of probes). ``bench/bench_plan.py``
and ``sutazai plan --check`` compare the prediction with a measured fleet run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sutazai.errors import Problem
from sutazai.wire import Priority

REFERENCE_MODEL_BYTES = 98_362_432  # SmolLM2-135M-Instruct.Q4_1.gguf
REFERENCE_CORES = 2
KV_BYTES_PER_MODEL_BYTE = 23_000 / REFERENCE_MODEL_BYTES  # SmolLM2-135M: ~23 KB of KV cache a token
MIN_SLOTS, MAX_SLOTS = 4, 64


@dataclass(frozen=True, kw_only=True)
class Machine:
    cores: int
    ram_bytes: int

    @classmethod
    def this_one(cls) -> Machine:
        pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
        return cls(
            cores=os.cpu_count() or 1, ram_bytes=int(pages * os.sysconf("SC_PAGE_SIZE")) if pages else 0
        )


@dataclass(frozen=True, kw_only=True)
class EngineSpeed:
    """Seconds a decode step takes (``step_base + step_per_seq * B``) and prefill tokens/s: as the
    engine spends them under load (``prefill_rate``, for throughput) and as one prompt gets them
    (``prompt_rate``, for a waiting request's latency; the same when not measured apart)."""

    step_base: float
    step_per_seq: float
    prefill_rate: float
    prompt_rate: float | None = None
    source: str = "reference"

    @property
    def latency_prefill_rate(self) -> float:
        return self.prompt_rate or self.prefill_rate

    def step(self, batch: int) -> float:
        return self.step_base + self.step_per_seq * batch

    def decode_rate(self, batch: int) -> float:
        return batch / self.step(batch)

    @classmethod
    def reference(cls, model_bytes: int, cores: int) -> EngineSpeed:
        scale = (model_bytes / REFERENCE_MODEL_BYTES) * (REFERENCE_CORES / max(cores, 1))
        return cls(step_base=0.0025 * scale, step_per_seq=0.0058 * scale, prefill_rate=240 / scale)

    @classmethod
    def fitted(cls, one_stream: float, many_streams: float, batch: int, prefill_rate: float) -> EngineSpeed:
        """From measured tokens/s of one stream and of ``batch`` streams at once."""
        step_one, step_many = 1 / one_stream, batch / many_streams
        per_seq = max((step_many - step_one) / max(batch - 1, 1), 1e-6)
        return cls(
            step_base=max(step_one - per_seq, 1e-6),
            step_per_seq=per_seq,
            prefill_rate=prefill_rate,
            source="calibrated",
        )


@dataclass(frozen=True, kw_only=True)
class AgentGroup:
    """Agents alike in load: how many, at what priority, tokens in and out, requests a minute."""

    name: str = "fleet"
    agents: int
    priority: Priority = "normal"
    prompt_tokens: int = 300
    output_tokens: int = 64
    requests_per_minute: float = 1.0
    cached_share: float = 0.0  # of the prompt found in the engine's cache (a stable system prompt)

    @property
    def requests_per_s(self) -> float:
        return self.agents * self.requests_per_minute / 60


@dataclass(frozen=True, kw_only=True)
class Fleet:
    groups: list[AgentGroup] = field(default_factory=list)

    @property
    def requests_per_s(self) -> float:
        return sum(g.requests_per_s for g in self.groups)

    def mean(self, attribute: str) -> float:
        rate = self.requests_per_s
        return sum(getattr(g, attribute) * g.requests_per_s for g in self.groups) / rate if rate else 0.0

    @property
    def uncached_prompt(self) -> float:
        rate = self.requests_per_s
        per = sum(g.prompt_tokens * (1 - g.cached_share) * g.requests_per_s for g in self.groups)
        return per / rate if rate else 0.0

    @property
    def largest_request(self) -> int:
        return max((g.prompt_tokens + g.output_tokens for g in self.groups), default=0)


@dataclass(frozen=True, kw_only=True)
class Plan:
    slots: int
    ctx_per_slot: int
    replicas: int
    machines: int
    kv_bytes: int
    demand_tokens_per_s: float
    capacity_tokens_per_s: float
    throughput_tokens_per_s: float
    interactive: InteractiveLatency
    utilisation: float
    speed: EngineSpeed
    ollama: dict[str, str]
    notes: list[str]

    @property
    def interactive_ttft_s(self) -> float:
        """Mean time to an interactive request's first token."""
        return self.interactive.total_s


@dataclass(frozen=True, kw_only=True)
class InteractiveLatency:
    """The mean time to an interactive request's first token, in the parts that make it."""

    slot_wait_s: float  # for a slot it may use: the held one may serve another interactive request
    others_prefill_s: float  # fleet prompts being prefilled as it lands, or sharing its batch
    own_s: float  # its own prefill, batched with one decode step of the busy slots
    slot_load: float = 0.0  # how busy interactive work keeps the slots open to it (0..1, or more)

    @property
    def total_s(self) -> float:
        return self.slot_wait_s + self.others_prefill_s + self.own_s


def capacity_requests_per_s(speed: EngineSpeed, slots: int, uncached_prompt: float, output: float) -> float:
    """Requests a second one engine finishes with every slot busy (prefill shares the cores)."""
    per_request = uncached_prompt / speed.prefill_rate + output / speed.decode_rate(slots)
    return 1 / per_request if per_request > 0 else math.inf


def own_prefill_s(speed: EngineSpeed, busy: int, prompt: float) -> float:
    """A request's own prefill, batched with one decode step of the ``busy`` slots."""
    return speed.step(busy + 1) + prompt / speed.latency_prefill_rate


def interactive_latency(
    speed: EngineSpeed,
    *,
    busy: int,
    free: int,
    prompt: float,
    output: float,
    interactive_rate: float,
    background_rate: float,
    background_prompt: float,
) -> InteractiveLatency:
    """``busy`` slots decode background work, ``free`` slots are open to interactive requests
    arriving at ``interactive_rate`` a second; background requests start (and end) at
    ``background_rate``, each with ``background_prompt`` tokens to prefill."""
    own = own_prefill_s(speed, busy, prompt)
    # Landing while the engine prefills background prompts (a share of its time) costs the rest of
    # that batch, and a prompt that arrives meanwhile joins the next batch with this one: measured
    # here, a whole background prefill on average, not the half a residual alone would give.
    prefill = background_prompt / speed.latency_prefill_rate
    prefilling = min(0.9, background_rate * prefill)  # share of the engine's time on fleet prompts
    others = prefilling * prefill
    # What an interactive request holds its slot for; a batch that prefills pauses every decode.
    hold = own + others + output * speed.step(busy + 1) / (1 - prefilling)
    load = interactive_rate * hold
    # A waiting request takes the first slot to free: one of the interactive slots (the first of
    # `free` residuals of a hold) or a background slot (they end at `background_rate`).
    first_residual = hold / (free + 1)
    wait = erlang_c(load, free) * first_of_s(2 * first_residual, background_rate)
    if load >= free + busy:
        wait = math.inf  # more interactive work than the engine has slots
    return InteractiveLatency(
        slot_wait_s=wait, others_prefill_s=others, own_s=own, slot_load=load / max(free, 1)
    )


def erlang_c(load: float, servers: int) -> float:
    """The chance that a request waits in an M/M/c queue with ``load`` (rate x hold) on ``servers``;
    1 when the work arrives as fast as the servers do it or faster."""
    if load <= 0 or servers <= 0:
        return 0.0 if load <= 0 else 1.0
    if load >= servers:
        return 1.0
    term, below = 1.0, 0.0
    for k in range(servers):  # sum of load^k / k! below c; term ends as load^c / c!
        below += term
        term *= load / (k + 1)
    tail = term * servers / (servers - load)
    return tail / (below + tail)


def first_of_s(uniform_upto: float, rate: float) -> float:
    """Mean of the smaller of a uniform wait on (0, ``uniform_upto``) and an exponential one at
    ``rate``."""
    if rate <= 0:
        return uniform_upto / 2
    x = rate * uniform_upto
    return (1 - (1 - math.exp(-x)) / x) / rate if x > 1e-9 else uniform_upto / 2


def _ctx_per_slot(fleet: Fleet, model_context: int) -> int:
    need = max(1024, int(fleet.largest_request * 1.5))
    ctx = 1 << math.ceil(math.log2(need))
    return min(ctx, model_context) if model_context else ctx


def plan(
    fleet: Fleet,
    machine: Machine,
    *,
    model_bytes: int,
    model_context: int = 8192,
    speed: EngineSpeed | None = None,
    ttft_target_s: float = 2.0,
    reserved_interactive: int = 1,
) -> Plan:
    """The slot count with the most throughput whose interactive TTFT stays under the target and
    whose KV cache fits in memory; replicas and machines for the demand left over."""
    speed = speed or EngineSpeed.reference(model_bytes, machine.cores)
    ctx = _ctx_per_slot(fleet, model_context)
    kv_per_slot = int(ctx * model_bytes * KV_BYTES_PER_MODEL_BYTE)
    memory_left = max(machine.ram_bytes - 2 * model_bytes - (2 << 30), kv_per_slot * MIN_SLOTS)
    out = fleet.mean("output_tokens") or 1.0
    interactive = [g for g in fleet.groups if g.priority == "interactive"]
    interactive_prompt = max(
        (g.prompt_tokens * (1 - g.cached_share) for g in interactive), default=fleet.uncached_prompt
    )
    notes: list[str] = []
    best = MIN_SLOTS
    for slots in range(MIN_SLOTS + 4, MAX_SLOTS + 1, 4):
        if slots * kv_per_slot > memory_left:
            notes.append(f"KV cache limits slots to {best} ({kv_per_slot / 2**20:.0f} MiB each)")
            break
        if own_prefill_s(speed, slots - 1, interactive_prompt) > ttft_target_s:
            notes.append(f"interactive TTFT target {ttft_target_s:g} s limits slots to {best}")
            break
        gain = capacity_requests_per_s(speed, slots, fleet.uncached_prompt, out)
        if gain < capacity_requests_per_s(speed, best, fleet.uncached_prompt, out) * 1.03:
            break  # more slots add latency but not throughput
        best = slots
    # Slots held for interactive work (`[stack] reserved_interactive`, as the gateway holds them): the
    # fleet gets the others, interactive requests come on top in theirs.
    held = min(reserved_interactive, best - 1)
    background = max(best - held, 1)
    interactive_demand = sum(g.requests_per_s * g.output_tokens for g in interactive)
    fleet_demand = fleet.requests_per_s * out - interactive_demand
    fleet_capacity = capacity_requests_per_s(speed, background, fleet.uncached_prompt, out) * out
    capacity = fleet_capacity + min(
        interactive_demand, capacity_requests_per_s(speed, max(held, 1), fleet.uncached_prompt, out) * out
    )
    demand = fleet_demand + interactive_demand
    throughput = min(fleet_demand, fleet_capacity) + min(interactive_demand, capacity - fleet_capacity)
    machines = max(1, math.ceil(demand / capacity)) if capacity else 1
    busy = (
        background
        if fleet_demand >= fleet_capacity
        else max(1, min(background, round(background * fleet_demand / fleet_capacity)))
    )
    background_groups = Fleet(groups=[g for g in fleet.groups if g.priority != "interactive"])
    latency = interactive_latency(
        speed,
        busy=busy,
        free=best - busy,
        prompt=interactive_prompt,
        output=max((g.output_tokens for g in interactive), default=out),
        interactive_rate=sum(g.requests_per_s for g in interactive),
        background_rate=min(fleet_demand, fleet_capacity) / out,
        background_prompt=background_groups.uncached_prompt,
    )
    if math.isinf(latency.slot_wait_s):
        notes.append("interactive requests arrive faster than their slots finish them: raise slots")
    elif latency.slot_load >= 0.7:
        advised = min(math.ceil(latency.slot_load * (best - busy) / 0.5), best - 1)
        if advised > held:
            notes.append(
                f"interactive work keeps the slots open to it {latency.slot_load:.0%} busy, so interactive "
                f"requests wait for each other: hold {advised} for them (`[stack] reserved_interactive = "
                f"{advised}`); past one held slot's worth of interactive work the predicted wait is coarse"
            )
    if demand > capacity:
        notes.append(
            f"demand is {demand / capacity:.1f}x what one machine serves: batch work will queue; "
            f"{machines} machines like this one (replicas by URL) would keep up"
        )
    replicas = max(1, machine.cores // 8)  # one llama-server scales to ~8 cores before a second pays
    return Plan(
        slots=best,
        ctx_per_slot=ctx,
        replicas=replicas,
        machines=machines,
        kv_bytes=best * kv_per_slot,
        demand_tokens_per_s=demand,
        capacity_tokens_per_s=capacity,
        throughput_tokens_per_s=throughput,
        interactive=latency,
        utilisation=min(1.0, demand / capacity) if capacity else 1.0,
        speed=speed,
        ollama={
            "OLLAMA_NUM_PARALLEL": str(best),
            "OLLAMA_CONTEXT_LENGTH": str(ctx),
            "OLLAMA_MAX_LOADED_MODELS": "1" if machine.ram_bytes < 4 * model_bytes + (4 << 30) else "2",
            "OLLAMA_KEEP_ALIVE": "30m",
            "[[stack.engines]] context (pinned num_ctx)": str(ctx),
        },
        notes=notes,
    )


class _GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "fleet"
    agents: int = Field(ge=1)
    priority: Priority = "normal"
    prompt_tokens: int = Field(default=300, ge=1)
    output_tokens: int = Field(default=64, ge=1)
    requests_per_minute: float = Field(default=1.0, ge=0)
    cached_share: float = Field(default=0.0, ge=0, le=1)


class FleetFile(BaseModel):
    """A fleet description: ``[[group]]`` tables of agents alike in load."""

    model_config = ConfigDict(extra="forbid")

    group: list[_GroupSpec] = Field(min_length=1)


def load_fleet(path: Path) -> Fleet:
    """Read a fleet file; a mistake is a located error (file, line, the key meant)."""
    import tomllib

    from sutazai.errors import SpecError
    from sutazai.tomlpos import syntax_problem, validation_problem

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(f"cannot read the fleet file: {exc.strerror}", path)]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([syntax_problem(exc, path)]) from None
    try:
        spec = FleetFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError([validation_problem(FleetFile, err, path, text) for err in exc.errors()]) from None
    return Fleet(groups=[AgentGroup(**g.model_dump()) for g in spec.group])
