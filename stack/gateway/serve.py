"""``python -m sutazai.stack.gateway.serve``: the gateway process the stack supervises."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sutazai.offline import quiet_environment
from sutazai.stack.gateway.app import serve
from sutazai.stack.gateway.config import GatewayConfig, gateway_config
from sutazai.workspace import Workspace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SutazAI gateway")
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    quiet_environment()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def read() -> GatewayConfig:
        workspace = Workspace.discover(args.workspace)
        config = gateway_config(workspace.settings, workspace.root)
        config.host = args.host or config.host
        config.port = args.port or config.port
        config.token = workspace.gateway_token()
        config.budget_file = workspace.data_dir / "budgets.json"
        return config

    serve(read(), reread=read)


if __name__ == "__main__":
    main()
