"""Plain data from YAML 1.2, read by libyaml's C parser: the fast path for files that are fine.

ruamel's safe loader builds every node in Python and reads ~1,000 agent files in ~0.5 s; the
catalog, the smoke harness and the TUI feel that at 150 agents and more. PyYAML's ``CSafeLoader``
does the work in C but speaks YAML 1.1 (``no`` is false, ``010`` is eight). This loader keeps the
C parser and takes its scalar rules from ruamel's own YAML 1.2 resolvers, so both readers agree on
every value; what it refuses (duplicate keys, which ruamel refuses too, and any syntax error) the
caller sends to the positioned reader, which says where.
"""

from __future__ import annotations

from typing import Any

import yaml
from ruamel.yaml.resolver import implicit_resolvers

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKey(yaml.YAMLError):
    """A key given twice in one mapping: refused, as ruamel refuses it."""


class Yaml12Loader(_Base):  # type: ignore[misc]
    """``CSafeLoader`` with YAML 1.2 core-schema scalars and duplicate keys refused."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, Any]]] = {}

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise DuplicateKey(f"duplicate key {key_node.value!r}")
                seen.add(key_node.value)
        return dict(super().construct_mapping(node, deep=deep))

    def construct_yaml_int(self, node: Any) -> int:
        """1.2: ``0o17`` is octal, ``010`` is ten (1.1 read it as eight)."""
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
            if digits.startswith(prefix):
                return sign * int(digits[2:], base)
        return sign * int(digits, 10)


for _versions, _tag, _pattern, _first in implicit_resolvers:
    if (1, 2) in _versions and not _tag.endswith(":yaml"):
        Yaml12Loader.add_implicit_resolver(_tag, _pattern, _first)
Yaml12Loader.add_constructor("tag:yaml.org,2002:int", Yaml12Loader.construct_yaml_int)


def load(text: str | bytes) -> Any:
    """The document's plain data; raises :class:`yaml.YAMLError` for anything to locate."""
    return yaml.load(text, Loader=Yaml12Loader)
