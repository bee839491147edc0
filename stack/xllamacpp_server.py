"""``python -m sutazai.stack.xllamacpp_server``: llama.cpp's own C++ server from a prebuilt wheel.

The embedded engine's default. ``xllamacpp`` (PyPI, a 34 MB CPU wheel with AVX2/FMA) links
llama.cpp's server and listens on a port from Python, so a fresh machine gets the same server as
a native ``llama-server`` build (continuous batching, ``id_slot``, ``cache_prompt``, ``/health``,
``/metrics``) without an 11-minute compile. Measured at the same speed within noise
(``python -m bench.bench_engines``). It takes the subset of ``llama-server``'s flags that
:func:`sutazai.stack.embedded.engine_command` passes, so both builds run from one command line.
"""

from __future__ import annotations

import argparse
import signal
import threading


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="llama.cpp server (xllamacpp wheel)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--ctx-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--alias", default="")
    parser.add_argument("--metrics", action="store_true")
    parser.add_argument("--cache-ram", type=int, default=None, help="prompt cache in host memory, MiB")
    parser.add_argument("--no-webui", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    if args.alias:
        params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx_size
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.endpoint_metrics = args.metrics
    if args.cache_ram is not None:
        params.cache_ram_mib = args.cache_ram
    params.ui = not args.no_webui
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = xllamacpp.Server(params)  # listens from here on, in llama.cpp's own threads
    print(f"xllamacpp server listening on {server.listening_address}", flush=True)
    stop.wait()


if __name__ == "__main__":
    main()
