"""The fast YAML reader agrees with ruamel's YAML 1.2 reader, and what it refuses is located."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from sutazai import yaml12
from sutazai.agents.yamlpos import load_plain
from sutazai.errors import SpecError

SAME_AS_RUAMEL = [
    "a: no\nb: yes\nc: on\nd: off\ne: y",  # strings in 1.2, booleans in PyYAML's 1.1
    "a: 010\nb: 0o17\nc: 0x1f\nd: 1_000\ne: -0b11\nf: 0\ng: -0",  # 010 is ten in 1.2
    "a: 1e3\nb: .inf\nc: 1.5\nd: .5\ne: 1:20\nf: -.inf\ng: +1\nh: -1.5e-3",  # 1:20 is a string
    "a: ~\nb: null\nc:\nd: Null\ne: NULL",
    "a: true\nb: True\nc: TRUE\nd: false",
    "a: 2024-01-01\nb: 2024-01-01T10:00:00Z",
    "<<: {a: 1}\nb: 2",
    "a: !!str 12\nb: !!int '3'\nc: '1'\nd: \"x\"",
    "a: |\n  multi\n  line\nb: >\n  folded\n  text\n",
    "tools: [word_count, first_sentence]\nlimits: {max_iterations: 3, timeout_s: 120}",
]


@pytest.mark.parametrize("text", SAME_AS_RUAMEL)
def test_every_value_reads_as_ruamel_reads_it(text: str) -> None:
    assert yaml12.load(text) == YAML(typ="safe").load(text)


@pytest.mark.parametrize("text", ["a: 1\na: 2", "a: {x: 1, x: 2}", "a: [", "a: ="])
def test_what_the_fast_reader_refuses_ruamel_refuses(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml12.load(text)
    with pytest.raises(Exception):  # noqa: B017 - each library raises its own kind
        YAML(typ="safe").load(text)


def test_a_duplicate_key_is_reported_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    with pytest.raises(SpecError) as caught:
        load_plain("name: a\nkind: chat\nname: b\n", path)
    problem = caught.value.problems[0]
    assert problem.file == path and problem.line == 3 and "duplicate" in problem.message
