"""A workspace of N scaffolded agents (kinds in turn), the fleet every benchmark measures."""

from __future__ import annotations

from pathlib import Path


def make_workspace(root: Path, agents: int) -> Path:
    from sutazai.scaffolds.generate import init_workspace, new_agent
    from sutazai.scaffolds.kinds import KIND_DEFAULTS

    kinds = list(KIND_DEFAULTS)
    init_workspace(root)
    for i in range(agents):
        new_agent(root / "agents", f"agent-{i:03d}", kinds[i % 4])
    return root
