"""Provably offline: the demo (stack, fleet, smoke) and every optional extra, in a network namespace
with only loopback (``unshare -n``), with every ``connect`` of every process counted by strace.
Any attempt to reach another address, answered or not, fails the test."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sutazai.scaffolds.generate import init_workspace

BIN = Path(sys.executable).parent
LOOPBACK = re.compile(
    r'inet_addr\("127\.|inet_pton\(AF_INET6, "(::1|::ffff:127\.[0-9.]+)"|inet_addr\("0\.0\.0\.0"\)'
)
EXTRAS = """
from sutazai.offline import quiet_environment
quiet_environment()  # as every entry point of the product does before anything else
import litellm  # its import fetches a price list unless LITELLM_LOCAL_MODEL_COST_MAP is set
import chromadb, qdrant_client, docker, faiss, opentelemetry.sdk.trace, textual, pygls
from pathlib import Path

import pytest
from sutazai.agents.memory.chroma_store import ChromaStore
from sutazai.agents.memory.qdrant_store import QdrantStore
store = ChromaStore("probe", "probe", Path("probe/chroma"))  # a client: where Chroma's telemetry starts
store.add([[0.1] * 8], ["x"], [{}])
QdrantStore("probe", "probe", Path("probe/qdrant")).add([[0.1] * 8], ["x"], [{}])
try:
    docker.from_env().ping()  # a local socket, and no daemon here
except Exception:
    pass
print("extras imported")
"""


def _script(root: Path) -> str:
    sutazai = BIN / "sutazai"
    # The stack always stops (trap), so strace, which follows the detached supervisor, can end.
    return f"""set -e
{shutil.which("ip")} link set lo up
cd {root}
trap '{sutazai} stack down' EXIT
{sutazai} stack up --detach
{sutazai} fleet run --json > fleet.json
{sutazai} smoke --tag fast --json > smoke.json || true
{BIN / "python"} extras.py
"""


@pytest.mark.slow  # starts the embedded stack
def test_the_demo_and_every_extra_make_no_outside_connection(tmp_path: Path) -> None:
    assert shutil.which("unshare") and shutil.which("strace") and shutil.which("ip"), (
        "needs util-linux, strace, iproute2"
    )
    root = init_workspace(tmp_path / "ws", demo=True)
    (root / "extras.py").write_text(EXTRAS)
    log = tmp_path / "connect.log"
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
    }  # no telemetry switch set
    result = subprocess.run(
        [
            "unshare",
            "-n",
            "strace",
            "-f",
            "--seccomp-bpf",
            "-e",
            "trace=connect",
            "-o",
            str(log),
            "sh",
            "-c",
            _script(root),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "extras imported" in result.stdout
    fleet = (root / "fleet.json").read_text()
    assert any(
        r["status"] == "ok" for r in json.loads(fleet)["runs"]
    )  # the fleet answered, through the stack, inside the namespace
    attempts = [line for line in log.read_text().splitlines() if "connect(" in line and "AF_INET" in line]
    outside = [line for line in attempts if not LOOPBACK.search(line)]
    assert attempts, "strace saw no connection at all: the audit itself is broken"
    assert outside == [], "\n".join(outside[:20])
