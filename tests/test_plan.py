"""``sutazai plan``: the cost model's logic, the fleet file's errors, and the command as users run it.
(The prediction against a measured run on this machine is ``bench/bench_plan.py``.)"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from sutazai.errors import SpecError
from sutazai.stack.plan import (
    AgentGroup,
    EngineSpeed,
    Fleet,
    InteractiveLatency,
    Machine,
    erlang_c,
    first_of_s,
    interactive_latency,
    load_fleet,
    plan,
)
from tests.test_cli import cli

MACHINE = Machine(cores=2, ram_bytes=24 << 30)
MODEL = 98_362_432


def _fleet(agents: int, rpm: float, prompt: int = 300) -> Fleet:
    return Fleet(
        groups=[
            AgentGroup(agents=agents, prompt_tokens=prompt, output_tokens=64, requests_per_minute=rpm),
            AgentGroup(
                name="dev", agents=1, priority="interactive", prompt_tokens=prompt, requests_per_minute=6
            ),
        ]
    )


def test_throughput_is_the_demand_below_capacity_and_the_capacity_above() -> None:
    light, heavy = (
        plan(_fleet(10, 0.5), MACHINE, model_bytes=MODEL),
        plan(_fleet(500, 4), MACHINE, model_bytes=MODEL),
    )
    assert light.throughput_tokens_per_s == pytest.approx(light.demand_tokens_per_s)
    assert light.machines == 1 and light.utilisation < 1
    assert heavy.throughput_tokens_per_s == pytest.approx(heavy.capacity_tokens_per_s)
    assert heavy.machines > 1 and any("machines like this one" in n for n in heavy.notes)


def test_a_bigger_model_or_fewer_cores_is_slower_and_longer_prompts_cost_capacity() -> None:
    small = plan(_fleet(150, 2), MACHINE, model_bytes=MODEL)
    big = plan(_fleet(150, 2), MACHINE, model_bytes=MODEL * 8)
    wide = plan(_fleet(150, 2), Machine(cores=16, ram_bytes=64 << 30), model_bytes=MODEL * 8)
    long = plan(_fleet(150, 2, prompt=2000), MACHINE, model_bytes=MODEL)
    assert big.capacity_tokens_per_s < small.capacity_tokens_per_s < wide.capacity_tokens_per_s * 8
    assert long.capacity_tokens_per_s < small.capacity_tokens_per_s
    assert long.ctx_per_slot >= 2048 + 64 and small.ctx_per_slot == 1024
    assert wide.replicas == 2 and small.replicas == 1


def test_the_interactive_target_and_memory_bound_the_slots() -> None:
    slow = EngineSpeed(step_base=0.2, step_per_seq=0.01, prefill_rate=5000)  # batching pays, latency grows
    tight = plan(_fleet(150, 2), MACHINE, model_bytes=MODEL, speed=slow, ttft_target_s=0.5)
    assert (
        tight.slots == 24 and tight.interactive.own_s <= 0.5 and any("TTFT target" in n for n in tight.notes)
    )
    small_ram = plan(_fleet(150, 2), Machine(cores=2, ram_bytes=3 << 30), model_bytes=MODEL * 40)
    assert any("KV cache limits" in n for n in small_ram.notes)


def test_the_chance_of_waiting_is_erlang_c() -> None:
    assert erlang_c(0.5, 1) == pytest.approx(0.5)  # one server: busy half the time
    assert erlang_c(1.0, 2) == pytest.approx(1 / 3)  # the textbook value for a = 1, c = 2
    assert erlang_c(0.0, 1) == 0 and erlang_c(3.0, 2) == 1


def test_interactive_latency_grows_with_interactive_and_background_load() -> None:
    speed = EngineSpeed(step_base=0.002, step_per_seq=0.01, prefill_rate=200, prompt_rate=250)

    def latency(interactive_rate: float, background_rate: float, free: int = 1) -> InteractiveLatency:
        return interactive_latency(
            speed,
            busy=3,
            free=free,
            prompt=120,
            output=32,
            interactive_rate=interactive_rate,
            background_rate=background_rate,
            background_prompt=120,
        )

    alone = latency(0.0, 0.0)
    assert alone.slot_wait_s == 0 and alone.others_prefill_s == 0
    assert alone.own_s == pytest.approx(speed.step(4) + 120 / 250)  # the rate a lone prompt gets
    assert latency(0.0, 1.0).others_prefill_s > latency(0.0, 0.3).others_prefill_s > 0
    assert latency(0.4, 1.0).slot_wait_s > latency(0.2, 1.0).slot_wait_s > 0
    assert latency(0.2, 1.0, free=3).slot_wait_s < latency(0.2, 1.0).slot_wait_s / 10
    # background slots that free let a waiting interactive request in sooner than its own slot would
    assert first_of_s(2.0, 0.0) == pytest.approx(1.0) and first_of_s(2.0, 2.0) < 0.5
    assert first_of_s(2.0, 1e6) == pytest.approx(1e-6, rel=0.01)
    assert math.isinf(latency(5.0, 0.0).slot_wait_s)  # more interactive work than slots


def test_at_capacity_interactive_requests_wait_longer_than_at_half() -> None:
    speed = EngineSpeed(step_base=0.002, step_per_seq=0.0106, prefill_rate=234, prompt_rate=265)
    half, full = (plan(_fleet(150, rpm), MACHINE, model_bytes=MODEL, speed=speed) for rpm in (0.05, 0.3))
    assert half.utilisation < 1 <= full.demand_tokens_per_s / full.capacity_tokens_per_s
    assert full.interactive.slot_wait_s > half.interactive.slot_wait_s
    assert full.interactive.others_prefill_s > half.interactive.others_prefill_s
    parts = full.interactive
    assert full.interactive_ttft_s == pytest.approx(parts.slot_wait_s + parts.others_prefill_s + parts.own_s)


def test_interactive_work_past_its_held_slot_gets_advice_to_hold_more() -> None:
    busy_developers = Fleet(
        groups=[
            AgentGroup(agents=150, output_tokens=64, requests_per_minute=2),
            AgentGroup(name="dev", agents=1, priority="interactive", output_tokens=64, requests_per_minute=6),
        ]
    )
    result = plan(busy_developers, MACHINE, model_bytes=MODEL)
    assert result.interactive.slot_load >= 0.7
    assert any("reserved_interactive = " in n for n in result.notes), result.notes
    assert not any(
        "reserved_interactive" in n for n in plan(_fleet(150, 0.1), MACHINE, model_bytes=MODEL).notes
    )
    # Holding what it advised (`[stack] reserved_interactive`, read by `sutazai plan`) ends the advice
    # and leaves the fleet fewer slots.
    import re

    advised = int(re.search(r"reserved_interactive = (\d+)", " ".join(result.notes)).group(1))  # type: ignore[union-attr]
    assert advised > 1
    held = plan(busy_developers, MACHINE, model_bytes=MODEL, reserved_interactive=advised)
    assert not any("reserved_interactive" in n for n in held.notes), held.notes
    assert held.interactive.slot_load < result.interactive.slot_load


def test_a_calibration_fits_the_two_measured_rates() -> None:
    speed = EngineSpeed.fitted(one_stream=120, many_streams=170, batch=24, prefill_rate=900)
    assert speed.decode_rate(1) == pytest.approx(120, rel=0.01)
    assert speed.decode_rate(24) == pytest.approx(170, rel=0.01)


def test_a_fleet_file_with_a_typo_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text('[[group]]\nagents = 100\n\n[[group]]\nagents = 5\nprioritty = "interactive"\n')
    with pytest.raises(SpecError) as caught:
        load_fleet(path)
    problem = caught.value.problems[0]
    assert problem.line == 6 and "did you mean 'priority'" in problem.message and problem.file == path
    path.write_text('[[group]]\nagents = 100\npriority = "interactive"\nrequests_per_minute = 3\n')
    assert load_fleet(path).requests_per_s == pytest.approx(5.0)


def test_plan_command_prints_a_recommendation_and_json(tmp_path: Path) -> None:
    assert cli("init", "ws", "--demo", cwd=tmp_path).returncode == 0
    ws = tmp_path / "ws"
    table = cli("plan", "--agents", "150", "--rpm", "2", cwd=ws, env={**os.environ, "COLUMNS": "160"})
    assert table.returncode == 0, table.stderr
    assert "[stack] parallel (slots)" in table.stdout and "interactive time to first token" in table.stdout
    assert "waiting for a slot" in table.stdout and "its own prompt" in table.stdout
    assert "`[stack] reserved_interactive = " in table.stdout  # the developer keeps the held slot busy
    data = json.loads(cli("plan", "--json", cwd=ws).stdout)
    assert data["slots"] >= 4 and data["ollama"]["OLLAMA_NUM_PARALLEL"] == str(data["slots"])
    (ws / "fleet.toml").write_text("[[group]]\nagent = 3\n")
    bad = cli("plan", "--fleet", "fleet.toml", cwd=ws)
    assert bad.returncode != 0 and "fleet.toml:2" in bad.stderr + bad.stdout and "Traceback" not in bad.stderr
