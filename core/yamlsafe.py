"""User YAML, read safely: bounded in size, and no aliases.

About 430 bytes of nested anchors and aliases ("billion laughs") describe 10⁹ nodes: loading is
cheap, since aliases share one object, but anything that walks the result (validation, JSON, the
language server) expands it. Agent files never need aliases, so they are refused with the line and
column of the first one; syntax errors are left to the loader, which locates them itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sutazai.errors import Problem, SpecError

MAX_YAML_BYTES = 1 << 20


def check_yaml(text: str, path: Path | None) -> None:
    """Raise a located :class:`SpecError` for an oversized file or any alias in it."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_YAML_BYTES:
        raise SpecError(
            Problem(
                f"file is {size:,} bytes; YAML files here are limited to {MAX_YAML_BYTES:,}",
                path,
                1,
                1,
                "keep data out of the spec: a prompt file, a tools.py, or smaller smoke files",
            )
        )
    if "*" not in text:
        return  # an alias is spelled *name: without a star there is none to find (most files)
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import AliasEvent

    try:
        for event in YAML(typ="safe").parse(text):  # libyaml when ruamel.yaml.clib is installed
            if isinstance(event, AliasEvent):
                mark = event.start_mark
                raise SpecError(
                    Problem(
                        f"YAML alias *{event.anchor} is not allowed",
                        path,
                        mark.line + 1,
                        mark.column + 1,
                        "write the value out where it is used (aliases can expand without bound)",
                    )
                )
    except YAMLError:
        return  # a syntax error: the loader reports it with its location


def safe_load_yaml(text: str, path: Path | None = None) -> Any:
    """``yaml.safe_load`` for user files, after :func:`check_yaml`."""
    import yaml

    check_yaml(text, path)
    return yaml.safe_load(text)
