from __future__ import annotations

import json
from pathlib import Path

import pytest

from sutazai.agents.loader import AgentCatalog, load_agent
from sutazai.agents.spec import json_schema
from sutazai.errors import SpecError
from sutazai.workspace import Workspace


def _agent(root: Path, yaml_text: str, name: str = "alpha", **files: str) -> Path:
    folder = root / "agents" / name
    folder.mkdir(parents=True)
    (folder / "agent.yaml").write_text(yaml_text)
    for filename, text in files.items():
        (
            folder / filename.replace("_", ".", 1) if filename.endswith("_py") else folder / filename
        ).write_text(text)
    return folder


GOOD = """name: alpha
kind: document
prompt:
  text: You summarise.
tools: [calculator]
"""


def test_good_spec_loads(tmp_path: Path) -> None:
    agent = load_agent(_agent(tmp_path, GOOD))
    assert agent.spec.model_ref == "fast" and agent.system_prompt == "You summarise."
    assert set(agent.tools) == {"calculator"}


def test_errors_name_file_line_and_column(tmp_path: Path) -> None:
    text = "name: alpha\nkind: poem\nprompt:\n  text: hi\nlimits:\n  max_tokens: -1\n  colour: red\n"
    folder = _agent(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_agent(folder)
    found = {(p.line, p.column): p.message for p in info.value.problems}
    assert all(p.file == folder / "agent.yaml" for p in info.value.problems)
    assert "expected" in found[(2, 7)] and "document" in found[(2, 7)]
    assert "greater than or equal to 1" in found[(6, 15)]
    assert found[(7, 3)] == "limits.colour: unknown key"


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    folder = _agent(tmp_path, "name: alpha\nkind: [document\nprompt: x\n")
    with pytest.raises(SpecError) as info:
        load_agent(folder)
    assert info.value.problems[0].line is not None and "YAML" in info.value.problems[0].message


def test_missing_prompt_file_and_unknown_tool(tmp_path: Path) -> None:
    text = "name: alpha\nkind: code\nprompt:\n  file: nope.md\ntools:\n  - calculator\n  - frobnicate\n"
    folder = _agent(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_agent(folder)
    by_line = {p.line: p for p in info.value.problems}
    assert "nope.md" in by_line[4].message and "create" in (by_line[4].hint or "")
    assert "frobnicate" in by_line[7].message and by_line[7].column == 5


def test_tools_py_functions_are_tools(tmp_path: Path) -> None:
    folder = _agent(tmp_path, GOOD.replace("[calculator]", "[shout]"))
    (folder / "tools.py").write_text(
        'def shout(text: str) -> str:\n    """Shout."""\n    return text.upper()\n'
    )
    agent = load_agent(folder)
    assert agent.tools["shout"].parameters["properties"] == {"text": {"type": "string"}}


def test_prompt_file_cannot_escape_the_agent_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s3cret")
    folder = _agent(tmp_path, "name: alpha\nkind: code\nprompt:\n  file: ../../../secret.txt\n")
    with pytest.raises(SpecError, match="inside the agent folder"):
        load_agent(folder)


def test_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = _agent(tmp_path, "")
    (folder / "agent.yaml").write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SpecError, match="UTF-8"):
        load_agent(folder)


def test_catalog_keeps_broken_agents_as_problems(tmp_path: Path) -> None:
    (tmp_path / "sutazai.toml").write_text("")
    _agent(tmp_path, GOOD)
    _agent(tmp_path, "name: beta\nkind: nope\n", name="beta")
    catalog = AgentCatalog.scan(Workspace(tmp_path))
    assert set(catalog.agents) == {"alpha"} and set(catalog.broken) == {"beta"}
    with pytest.raises(SpecError):
        catalog.get("beta")


def test_schema_is_valid_json_schema_and_validates_the_demo(demo_root: Path) -> None:
    import jsonschema
    import yaml

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for spec_file in demo_root.glob("agents/*/agent.yaml"):
        assert spec_file.read_text().startswith("# yaml-language-server: $schema=")
        jsonschema.validate(yaml.safe_load(spec_file.read_text()), schema)
    assert json.dumps(schema)


BROKEN = {
    "schema": "name: alpha\nkind: poem\nprompt:\n  text: hi\nlimit:\n  max_tokens: 2\n",
    "name-mismatch": "name: beta\nkind: document\nprompt:\n  text: hi\n",
    "missing-prompt": "name: alpha\nkind: document\nprompt:\n  file: nowhere.md\n",
    "prompt-escape": "name: alpha\nkind: document\nprompt:\n  file: ../../x.md\n",
    "unknown-tool": "name: alpha\nkind: document\nprompt: hi\ntools: [calculater, shout]\n",
    "syntax": "name: alpha\nkind: [document\n",
}


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_loader_and_language_server_apply_the_same_rules(tmp_path: Path, code: str) -> None:
    """One set of checks: the loader raises exactly what the editor shows (same codes, same ranges)."""
    from sutazai.lsp.analysis import analyse
    from sutazai.lsp.gateway_models import GatewayModels
    from sutazai.lsp.workspace_index import WorkspaceIndex

    (tmp_path / "sutazai.toml").write_text("")
    folder = _agent(tmp_path, BROKEN[code])
    with pytest.raises(SpecError) as info:
        load_agent(folder)
    loaded = {(p.code, p.line, p.column, p.end_column) for p in info.value.problems}
    shown = analyse(
        folder / "agent.yaml", BROKEN[code], WorkspaceIndex(), GatewayModels("http://127.0.0.1:9")
    )
    assert {(p.code, p.line, p.column, p.end_column) for p in shown} == loaded
    assert code in {c for c, *_ in loaded}
    assert all(p.line and p.end_column and p.end_column > (p.column or 0) for p in info.value.problems)


def test_problems_carry_the_fix(tmp_path: Path) -> None:
    folder = _agent(tmp_path, BROKEN["unknown-tool"] + "temprature: 0.1\n")
    with pytest.raises(SpecError) as info:
        load_agent(folder)
    fixes = {p.code: dict(p.data) for p in info.value.problems}
    assert fixes["schema"] == {"replace": "temperature"}
    by_tool = {p.data["tool"]: dict(p.data) for p in info.value.problems if p.code == "unknown-tool"}
    assert by_tool["calculater"] == {"tool": "calculater", "replace": "calculator"}
    assert by_tool["shout"] == {"tool": "shout"}
