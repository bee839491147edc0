"""Benchmark 1: what the gateway costs against an engine that answers at once.

Side by side in one run: the engine alone, a bare aiohttp forwarder, the gateway (all features
on: scheduler, fair queues, cache lookups, metrics), and LiteLLM's proxy (in its own venv).
Also benchmark 5: a cache hit's latency.

    .venv/bin/python -m bench.bench_overhead [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.procs import ROOT, free_port, gateway, load, process

BODY = {
    "model": "instant",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 8,
    "temperature": 0.7,
}
LITELLM_VENV = ROOT / "bench" / ".venvs" / "litellm-proxy"


def ensure_litellm_proxy() -> Path | None:
    """LiteLLM's proxy pins an older rich that breaks Textual: it gets its own virtual environment."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=False)
    return exe if exe.exists() else None


def measure(name: str, url: str, seconds: float, headers: dict[str, str] | None = None) -> dict[str, float]:
    one = load(url + "/v1/chat/completions", BODY, 1, seconds, headers)
    many = load(url + "/v1/chat/completions", BODY, 32, seconds, headers)
    row = {
        "p50_ms": one["p50_ms"],
        "p99_ms": one["p99_ms"],
        "rps_32": many["rps"],
        "errors": one["errors"] + many["errors"],
    }
    print(
        f"{name:<16} p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  {row['rps_32']:8.0f} req/s (32 clients)"
        f"  errors {row['errors']:.0f}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--skip-litellm", action="store_true")
    args = parser.parse_args()
    engine_port, forwarder_port = free_port(), free_port()
    engine_url = f"http://127.0.0.1:{engine_port}"
    results: dict[str, dict[str, float]] = {}
    with process([sys.executable, "-m", "bench.instant_engine", str(engine_port)], engine_url + "/health"):
        results["engine alone"] = measure("engine alone", engine_url, args.seconds)
        forwarder = f"http://127.0.0.1:{forwarder_port}"
        with process(
            [sys.executable, "-m", "bench.forwarder", str(forwarder_port), engine_url],
            forwarder + "/v1/chat/completions",
        ):
            results["bare forwarder"] = measure("bare forwarder", forwarder, args.seconds)
        engines = (
            f'[[stack.engines]]\nname = "instant"\nkind = "openai"\nurl = "{engine_url}"\nslots = 256\n'
            'models = ["instant"]\n'
        )
        with gateway(engines) as url:
            results["gateway"] = measure("gateway", url, args.seconds)
            cached = {**BODY, "temperature": 0}
            hit = load(url + "/v1/chat/completions", cached, 1, args.seconds)
            print(
                f"{'cache hit':<16} p50 {hit['p50_ms']:6.2f} ms  p99 {hit['p99_ms']:6.2f} ms  {hit['rps']:8.0f} req/s (1 client)"
            )
        exe = None if args.skip_litellm else ensure_litellm_proxy()
        if exe is not None:
            port = free_port()
            with tempfile.TemporaryDirectory() as tmp:
                config = Path(tmp, "config.yaml")
                config.write_text(
                    "model_list:\n  - model_name: instant\n    litellm_params:\n"
                    f"      model: openai/instant\n      api_base: {engine_url}/v1\n      api_key: x\n"
                )
                key = "sk-bench-only-local"  # the proxy refuses to start without a master key
                env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": key}
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
                    results["litellm proxy"] = measure(
                        "litellm proxy", f"http://127.0.0.1:{port}", args.seconds
                    )
    gw, fwd, eng = results["gateway"], results["bare forwarder"], results["engine alone"]
    print()
    print(f"gateway / bare forwarder throughput: {gw['rps_32'] / fwd['rps_32']:.2f}x (target >= 0.5x)")
    print(f"gateway added p50 vs engine alone:   {gw['p50_ms'] - eng['p50_ms']:+.2f} ms (target <= +1 ms)")
    print(f"cache hit p50:                       {hit['p50_ms']:.2f} ms (target < 1 ms)")
    if "litellm proxy" in results:
        lp = results["litellm proxy"]
        print(
            f"gateway / litellm proxy throughput:  {gw['rps_32'] / lp['rps_32']:.1f}x; "
            f"p50 {gw['p50_ms']:.2f} vs {lp['p50_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
