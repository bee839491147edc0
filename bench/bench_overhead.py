"""Benchmark 1: what the gateway costs against an engine that answers at once.

Side by side in one run, every server up at once, each warmed up, then measured in rounds with the
order rotating: the engine alone, a bare aiohttp forwarder (the control), a minimal gateway
(`bench/minimal_gateway.py`: the forwarder plus what any gateway must do, JSON in, the engine's
event stream read and assembled, JSON out; the control for the gateway's own features), the gateway
(all features on: guard, scheduler, fair queues, cache lookups, metrics), and LiteLLM's proxy (in
its own venv, its master key sent). Non-200 answers are counted apart, never in req/s or latency.
Also benchmark 5: a cache hit's latency; and each further dialect of the gateway (Anthropic
Messages, OpenAI Responses) beside its OpenAI chat one, the same request in each shape.

    .venv/bin/python -m bench.bench_overhead [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.procs import ROOT, free_port, gateway, load, process

BODY = {
    "model": "instant",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 8,
    "temperature": 0.7,
}
CHAT = "/v1/chat/completions"
DIALECTS = {  # the same request in each dialect's shape: the difference is the edge's own cost
    "gw anthropic": ("/v1/messages", {k: v for k, v in BODY.items()}),
    "gw responses": (
        "/v1/responses",
        {"model": "instant", "input": "hi", "max_output_tokens": 8, "temperature": 0.7},
    ),
}
LITELLM_VENV = ROOT / "bench" / ".venvs" / "litellm-proxy"


def ensure_litellm_proxy() -> Path | None:
    """LiteLLM's proxy pins an older rich that breaks Textual: it gets its own virtual environment."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=False)
    return exe if exe.exists() else None


def measure(
    url: str, seconds: float, headers: dict[str, str] | None = None, path: str = CHAT, body: dict = BODY
) -> dict[str, float]:
    one = load(url + path, body, 1, seconds, headers)
    many = load(url + path, body, 32, seconds, headers)
    return {
        "p50_ms": one["p50_ms"],
        "p99_ms": one["p99_ms"],
        "rps_32": many["rps"],
        "errors": one["errors"] + many["errors"],
    }


@contextmanager
def litellm_proxy(engine_url: str) -> Iterator[tuple[str, dict[str, str]] | None]:
    exe = ensure_litellm_proxy()
    if exe is None:
        yield None
        return
    port = free_port()
    key = "sk-bench-only-local"  # the proxy refuses to start without a master key; clients send it
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "config.yaml")
        config.write_text(
            "model_list:\n  - model_name: instant\n    litellm_params:\n"
            f"      model: openai/instant\n      api_base: {engine_url}/v1\n      api_key: x\n"
        )
        env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": key}
        argv = [
            str(exe),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ]
        with process(argv, f"http://127.0.0.1:{port}/health/liveliness", env=env):
            yield f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}


def _spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-litellm", action="store_true")
    args = parser.parse_args()
    engine_port, forwarder_port, minimal_port = free_port(), free_port(), free_port()
    engine_url = f"http://127.0.0.1:{engine_port}"
    forwarder = f"http://127.0.0.1:{forwarder_port}"
    minimal = f"http://127.0.0.1:{minimal_port}"
    engines = (
        f'[[stack.engines]]\nname = "instant"\nkind = "openai"\nurl = "{engine_url}"\nslots = 256\n'
        'models = ["instant"]\n'
    )
    with ExitStack() as stack:
        stack.enter_context(
            process([sys.executable, "-m", "bench.instant_engine", str(engine_port)], engine_url + "/health")
        )
        stack.enter_context(
            process(
                [sys.executable, "-m", "bench.forwarder", str(forwarder_port), engine_url],
                forwarder + "/v1/chat/completions",
            )
        )
        stack.enter_context(
            process(
                [sys.executable, "-m", "bench.minimal_gateway", str(minimal_port), engine_url],
                minimal + "/v1/chat/completions",
            )
        )
        via = stack.enter_context(gateway(engines))
        servers: dict[str, tuple[str, dict[str, str] | None, str, dict]] = {
            "engine alone": (engine_url, None, CHAT, BODY),
            "bare forwarder": (forwarder, None, CHAT, BODY),
            "minimal gateway": (minimal, None, CHAT, BODY),
            "gateway": (via, None, CHAT, BODY),
            **{name: (via, None, path, body) for name, (path, body) in DIALECTS.items()},
        }
        proxy = None if args.skip_litellm else stack.enter_context(litellm_proxy(engine_url))
        if proxy is not None:
            servers["litellm proxy"] = (*proxy, CHAT, BODY)
        for url, headers, path, body in servers.values():  # warm every server before measuring any
            load(url + path, body, 8, 1.0, headers)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        names = list(servers)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                url, headers, path, body = servers[name]
                results[name].append(measure(url, args.seconds, headers, path, body))
                row = results[name][-1]
                print(
                    f"round {r + 1} {name:<15} p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                    f"{row['rps_32']:7.0f} req/s (32 clients)  errors {row['errors']:.0f}",
                    flush=True,
                )
        hit = load(via + "/v1/chat/completions", {**BODY, "temperature": 0}, 1, args.seconds)
    print()
    print(f"{'server':<15} {'p50 ms (1 client)':>22} {'p99 ms':>22} {'req/s (32 clients)':>24} {'errors':>7}")
    for name, rows in results.items():
        print(
            f"{name:<15} {_spread([r['p50_ms'] for r in rows], '.2f'):>22} "
            f"{_spread([r['p99_ms'] for r in rows], '.2f'):>22} {_spread([r['rps_32'] for r in rows], '.0f'):>24} "
            f"{sum(r['errors'] for r in rows):>7.0f}"
        )
    print(
        f"{'cache hit':<15} p50 {hit['p50_ms']:.2f} ms, p99 {hit['p99_ms']:.2f} ms, {hit['rps']:.0f} req/s (1 client)"
    )
    gw, fwd, eng = (results[n] for n in ("gateway", "bare forwarder", "engine alone"))
    ratio = [g["rps_32"] / f["rps_32"] for g, f in zip(gw, fwd, strict=True)]
    least = [m["rps_32"] / f["rps_32"] for m, f in zip(results["minimal gateway"], fwd, strict=True)]
    added = [g["p50_ms"] - e["p50_ms"] for g, e in zip(gw, eng, strict=True)]
    print()
    print(f"gateway / bare forwarder req/s, per round: {_spread(ratio, '.2f')}x (target >= 0.8x)")
    print(f"minimal gateway / bare forwarder (control): {_spread(least, '.2f')}x")
    over = [g["p50_ms"] - f["p50_ms"] for g, f in zip(gw, fwd, strict=True)]
    print(f"gateway p50 added over the forwarder:     {_spread(over, '+.2f')} ms (target <= +0.15 ms)")
    print(f"gateway p50 added over the engine alone:  {_spread(added, '+.2f')} ms (target <= +1 ms)")
    for name in DIALECTS:
        extra = [d["p50_ms"] - g["p50_ms"] for d, g in zip(results[name], gw, strict=True)]
        rps = [d["rps_32"] / g["rps_32"] for d, g in zip(results[name], gw, strict=True)]
        print(f"{name} p50 beside OpenAI chat: {_spread(extra, '+.2f')} ms, req/s {_spread(rps, '.2f')}x")
    if "litellm proxy" in results:
        lp = results["litellm proxy"]
        print(
            f"gateway / litellm proxy req/s: {_spread([g['rps_32'] / p['rps_32'] for g, p in zip(gw, lp, strict=True)], '.1f')}x"
        )


if __name__ == "__main__":
    main()
