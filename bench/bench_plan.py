"""Benchmark: ``sutazai plan``'s prediction against a measured fleet run on this machine.

One embedded engine (the plan's slot count) behind the gateway. For each fleet (150 agents loading
the engine to half its calibrated capacity, all of it, and twice over it, plus a developer's
interactive requests, 12 a minute: windows of 3 minutes give enough first tokens for a mean), the plan predicts output
tokens/s and the mean interactive time to first token, first from its reference constants, then
from a calibration against this engine (probes, seconds), and a run of the fleet (open loop,
Poisson arrivals, fresh prompts, fixed output lengths) measures both. The runs take turns over the
rounds; the measured mean is over every interactive request of every round.

    .venv/bin/python -m bench.bench_plan [--seconds 180] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from bench.procs import ADMIN, free_port, gateway, process
from sutazai.stack.embedded import CTX_PER_SLOT, MODEL_ALIAS, engine_command, find_model
from sutazai.stack.plan import AgentGroup, Fleet, Machine, plan
from sutazai.stack.plan_check import Measured, calibrate, run_fleet

FLEETS = {"half capacity": 0.5, "at capacity": 1.0, "2x over": 2.0}  # of the calibrated capacity
AGENTS, DEVELOPERS, DEVELOPER_RPM, OUTPUT = 150, 1, 12, 32


def fleet(rpm: float) -> Fleet:
    return Fleet(
        groups=[
            AgentGroup(
                name="fleet", agents=AGENTS, prompt_tokens=120, output_tokens=OUTPUT, requests_per_minute=rpm
            ),
            AgentGroup(
                name="developer",
                agents=DEVELOPERS,
                priority="interactive",
                prompt_tokens=120,
                output_tokens=OUTPUT,
                requests_per_minute=DEVELOPER_RPM,
            ),
        ]
    )


def rpm_for(share: float, capacity_tokens_per_s: float) -> float:
    """Per-agent requests a minute that load the engine to ``share`` of its capacity."""
    requests_per_s = share * capacity_tokens_per_s / OUTPUT - DEVELOPERS * DEVELOPER_RPM / 60
    return max(0.0, requests_per_s) * 60 / AGENTS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model = find_model()
    assert model, "install the embedded engine first (scripts/setup)"
    machine = Machine.this_one()
    size = model.stat().st_size
    probe = plan(fleet(1.0), machine, model_bytes=size)  # the reference speeds pick the slots
    slots = probe.slots
    port = free_port()
    command = engine_command(model, port, slots, machine.cores, ctx_per_slot=CTX_PER_SLOT)
    url = f"http://127.0.0.1:{port}"
    engines = (
        f'[[stack.engines]]\nname = "embedded"\nkind = "llamacpp"\nurl = "{url}"\nslots = {slots}\n'
        f'models = ["{MODEL_ALIAS}"]\ncontext = {CTX_PER_SLOT}\n'
    )
    print(
        f"{machine.cores} cores; engine with the plan's {slots} slots; {args.seconds:g} s a run", flush=True
    )
    with process(command.argv, url + "/health", env=command.env), gateway(engines) as via:
        speed = asyncio.run(
            calibrate(via, MODEL_ALIAS, slots, ADMIN, prompt_tokens=120, output_tokens=OUTPUT)
        )
        print(
            f"calibrated: step {speed.step_base * 1000:.1f} + {speed.step_per_seq * 1000:.2f} ms x B, "
            f"prefill {speed.prefill_rate:.0f} tokens/s under load, {speed.latency_prefill_rate:.0f} "
            f"alone (reference: prefill {probe.speed.prefill_rate:.0f})",
            flush=True,
        )
        capacity = plan(fleet(1.0), machine, model_bytes=size, speed=speed).capacity_tokens_per_s
        fleets = {name: fleet(rpm_for(share, capacity)) for name, share in FLEETS.items()}
        reference = {name: plan(f, machine, model_bytes=size) for name, f in fleets.items()}
        calibrated = {name: plan(f, machine, model_bytes=size, speed=speed) for name, f in fleets.items()}
        print(
            "fleets (150 agents, requests a minute each): "
            + ", ".join(f"{n} {f.groups[0].requests_per_minute:.2f}" for n, f in fleets.items()),
            flush=True,
        )
        runs: dict[str, list[Measured]] = {name: [] for name in FLEETS}
        names = list(FLEETS)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                m = asyncio.run(run_fleet(via, MODEL_ALIAS, fleets[name], args.seconds, ADMIN))
                runs[name].append(m)
                print(
                    f"round {r + 1} {name:<15} {m.tokens_per_s:6.1f} tokens/s  TTFT mean "
                    f"{m.ttft_mean_s:5.2f} s, median {m.ttft_median_s:5.2f} s ({len(m.ttft_s)})  {m.requests} requests  {m.errors} errors  "
                    f"{m.prompt_tokens / max(m.requests, 1):.0f} prompt tokens a request",
                    flush=True,
                )
    print()
    print(
        f"{'fleet':<15} {'tokens/s: reference':>20} {'calibrated':>11} {'measured (min-max)':>22} "
        f"{'mean TTFT s: reference':>23} {'calibrated':>11} {'measured (round means)':>24} {'errors':>7}"
    )
    for name in FLEETS:
        rates = [m.tokens_per_s for m in runs[name]]
        ttfts = [t for m in runs[name] for t in m.ttft_s]  # every interactive request of every round
        measured_rate, measured_ttft = statistics.median(rates), statistics.mean(ttfts)
        ref, cal = reference[name], calibrated[name]
        print(
            f"{name:<15} {ref.throughput_tokens_per_s:20.1f} {cal.throughput_tokens_per_s:11.1f} "
            f"{measured_rate:8.1f} ({min(rates):.1f}-{max(rates):.1f}) "
            f"{ref.interactive_ttft_s:23.2f} {cal.interactive_ttft_s:11.2f} {measured_ttft:9.2f} "
            f"({min(m.ttft_mean_s for m in runs[name]):.2f}-{max(m.ttft_mean_s for m in runs[name]):.2f}, "
            f"n={len(ttfts)}) {sum(m.errors for m in runs[name]):7d}"
        )
        parts = cal.interactive
        print(
            f"    calibrated TTFT parts: slot wait {parts.slot_wait_s:.2f} s, others' prompts "
            f"{parts.others_prefill_s:.2f} s, own prompt {parts.own_s:.2f} s"
        )
        for label, predicted in (("reference", ref), ("calibrated", cal)):
            rate_error = measured_rate / predicted.throughput_tokens_per_s - 1
            ttft_error = measured_ttft / predicted.interactive_ttft_s - 1
            print(f"    {label:<10} throughput {rate_error:+.0%}, interactive TTFT {ttft_error:+.0%}")


if __name__ == "__main__":
    main()
