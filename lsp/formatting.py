"""Formatting that normalises YAML (indentation, spacing) and keeps every comment (ruamel round-trip)."""

from __future__ import annotations

import io

from lsprotocol import types as lsp

from sutazai.errors import SpecError
from sutazai.yamlsafe import check_yaml


def format_yaml(text: str) -> list[lsp.TextEdit]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.preserve_quotes = True
    try:
        check_yaml(text, None)
        data = yaml.load(text)
    except (YAMLError, SpecError):
        return []  # a file that does not parse is left alone; diagnostics say why
    out = io.StringIO()
    yaml.dump(data, out)
    formatted = out.getvalue()
    if formatted == text:
        return []
    lines = text.split("\n")
    end = lsp.Position(len(lines) - 1, len(lines[-1]))
    return [lsp.TextEdit(range=lsp.Range(lsp.Position(0, 0), end), new_text=formatted)]
