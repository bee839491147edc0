"""The Docker stack without a Docker engine (none can run on these machines): the compose file
against the Compose Specification's JSON Schema, and what the gateway container is told."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from sutazai.config import load_settings
from sutazai.stack.docker_stack import CONTAINERS, compose_yaml
from sutazai.stack.gateway.config import gateway_config

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_compose_file_is_generated_and_valid_against_the_compose_spec() -> None:
    committed = ROOT / "stack" / "compose.yaml"
    assert committed.read_text() == compose_yaml(), "regenerate: python -m sutazai.stack.docker_stack"
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(committed)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_compose_file_is_caught_by_the_same_check(tmp_path: Path) -> None:
    document = yaml.safe_load(compose_yaml())
    document["services"]["gateway"]["ports"] = {"not": "a list"}
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(document))
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(broken)], capture_output=True
    )
    assert result.returncode != 0


def test_the_gateway_container_fronts_ollama_without_the_embedded_engine() -> None:
    environment = {
        k: v for k, v in CONTAINERS["gateway"]["environment"].items() if k != "SUTAZAI_GATEWAY_TOKEN"
    }
    settings = load_settings(environ=environment, user_toml=Path("/nonexistent"))
    config = gateway_config(settings)
    assert settings.stack.embedded is False  # the string "false" is false
    assert [(e.name, e.kind, e.url) for e in config.engines] == [
        ("ollama", "ollama", "http://sutazai-ollama:11434")
    ]
    assert config.host == "0.0.0.0"
    ports = [host for host, _ in (p for spec in CONTAINERS.values() for p in spec["ports"].values())]
    assert set(ports) == {"127.0.0.1"}  # published on loopback only
