"""What a paused run looks like in a debugger: stack frames, scopes and variables, and the edits
made through them (``setVariable``, ``setExpression``) into the pending data the run will use.

Frame 0 of a thread is the paused step; the frames below it are the runs waiting on it (a parent
asked this agent). Each frame points at the line that means it: the tool's or delegate's entry in
``agent.yaml``, or the prompt file for a model call. References are valid until the next stop.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sutazai.agents.breakpoints import (
    ConditionError,
    HitContext,
    compile_condition,
    evaluate,
    meaningful_lines,
)
from sutazai.agents.debugger import Debugger, Pause
from sutazai.agents.run_record import DELEGATION_PREFIX

PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
SHOWN = 200  # characters of a value in the variables view


@dataclass
class Frame:
    run_id: str
    depth: int
    pause: Pause | None


class Frames:
    def __init__(self, debugger: Debugger) -> None:
        self.debugger = debugger
        self.frames: dict[int, Frame] = {}
        self.refs: dict[int, tuple[Any, bool]] = {}  # reference -> (container, editable)

    def reset(self) -> None:
        self.frames.clear()
        self.refs.clear()

    def _ref(self, container: Any, editable: bool) -> int:
        ident = len(self.refs) + 1
        self.refs[ident] = (container, editable)
        return ident

    # --- frames -------------------------------------------------------------------------------

    def stack(self, run_id: str) -> list[dict[str, Any]]:
        out = []
        current: str | None = run_id
        child_agent: str | None = None
        depth = 0
        while current is not None:
            entry = self.debugger.runs.get(current)
            if entry is None:
                break
            pause = self.debugger.paused.get(current) if depth == 0 else None
            ident = len(self.frames) + 1
            self.frames[ident] = Frame(current, depth, pause)
            if pause is not None:
                name = f"{entry.agent}: before {_what(pause)}"
                path, line = _location(self.debugger, entry.agent, pause.point, _target(pause))
            else:
                name = (
                    f"{entry.agent}: waiting on {child_agent}" if child_agent else f"{entry.agent}: running"
                )
                path, line = _location(self.debugger, entry.agent, "delegation", child_agent)
            frame: dict[str, Any] = {"id": ident, "name": name, "line": line, "column": 1}
            if path is not None:
                frame["source"] = {"name": path.name, "path": str(path)}
            out.append(frame)
            child_agent, current, depth = entry.agent, entry.parent_run, depth + 1
        return out

    def pause_of(self, frame_id: int) -> Pause:
        frame = self.frames.get(frame_id) or next((f for f in self.frames.values() if f.pause), None)
        if frame is None or frame.pause is None:
            raise ValueError("no paused step in that frame: pick the top frame of a stopped thread")
        return frame.pause

    def scopes(self, frame_id: int) -> list[dict[str, Any]]:
        frame = self.frames.get(frame_id)
        if frame is None:
            raise ValueError(f"no frame {frame_id}")
        scopes = []
        if frame.pause is not None:
            label = {"model": "Request", "answer": "Answer", "error": "Error"}.get(
                frame.pause.point, "Tool call"
            )
            scopes.append(
                {"name": label, "variablesReference": self._ref(frame.pause.data, True), "expensive": False}
            )
        entry = self.debugger.runs.get(frame.run_id)
        run: dict[str, Any] = {
            "run_id": frame.run_id,
            "agent": entry.agent if entry else "?",
            "parent_run": entry.parent_run if entry else None,
        }
        if frame.pause is not None:
            run |= {
                "point": frame.pause.point,
                "reason": frame.pause.reason,
                "iteration": frame.pause.iteration,
            }
        scopes.append({"name": "Run", "variablesReference": self._ref(run, False), "expensive": False})
        return scopes

    # --- variables ----------------------------------------------------------------------------

    def variables(self, reference: int) -> list[dict[str, Any]]:
        container, editable = self.refs.get(reference, (None, False))
        items = container.items() if isinstance(container, dict) else enumerate(container or [])
        return [self._variable(str(key), value, editable) for key, value in items]

    def _variable(self, name: str, value: Any, editable: bool) -> dict[str, Any]:
        nested = isinstance(value, dict | list) and bool(value)
        variable = {
            "name": name,
            "value": _shown(value),
            "type": type(value).__name__,
            "variablesReference": self._ref(value, editable) if nested else 0,
        }
        if not editable:
            variable["presentationHint"] = {"attributes": ["readOnly"]}
        return variable

    def set_variable(self, reference: int, name: str, raw: str) -> dict[str, Any]:
        container, editable = self.refs.get(reference, (None, False))
        if container is None:
            raise ValueError(f"no variables under reference {reference} (they last until the next stop)")
        if not editable:
            raise ValueError(
                "the run's own state is read-only; edit the pending request, answer or tool call"
            )
        value = _parse(raw)
        _assign(container, name, value)
        return {"value": _shown(value), "type": type(value).__name__, "variablesReference": 0}

    def set_expression(self, frame_id: int, expression: str, raw: str) -> dict[str, Any]:
        pause = self.pause_of(frame_id)
        *parents, last = _path(expression)
        container: Any = pause.data
        for part in parents:
            container = container[part]
        value = _parse(raw)
        _assign(container, str(last), value)
        return {"value": _shown(value), "type": type(value).__name__, "variablesReference": 0}

    def evaluate(self, frame_id: int, expression: str) -> dict[str, Any]:
        pause = self.pause_of(frame_id)
        if expression in ("render", "messages"):
            messages = pause.data.get("messages") or []
            text = (
                "\n".join(f"[{m.get('role')}] {m.get('content') or ''}" for m in messages) or "(no messages)"
            )
            return {"result": text, "variablesReference": 0}
        try:
            value: Any = _lookup(pause.data, expression)
        except (KeyError, IndexError, TypeError, ValueError):
            try:
                context = HitContext(pause.agent, pause.point, pause.data, pause.iteration)
                value = evaluate(compile_condition(expression), context.names())
            except ConditionError as exc:
                raise ValueError(f"{expression!r}: not a path in the pending data, and {exc}") from None
        nested = isinstance(value, dict | list) and bool(value)
        return {"result": _shown(value), "variablesReference": self._ref(value, True) if nested else 0}


def _what(pause: Pause) -> str:
    if pause.point in ("tool", "delegation"):
        return f"{pause.point} {pause.data.get('tool')}"
    return {"model": "a model call", "answer": "acting on the answer", "error": "ending on an error"}[
        pause.point
    ]


def _target(pause: Pause) -> str | None:
    tool = pause.data.get("tool")
    if not isinstance(tool, str):
        return None
    return tool[len(DELEGATION_PREFIX) :] if pause.point == "delegation" else tool


def _location(debugger: Debugger, agent: str, point: str, name: str | None) -> tuple[Path | None, int]:
    """The file and line that mean this step: the tool's or delegate's entry, or the prompt."""
    folder = _folder_of(debugger, agent)
    if folder is None:
        return None, 1
    spec = folder / "agent.yaml"
    if point in ("tool", "delegation") and name is not None:
        for line, target in sorted(meaningful_lines(spec).items()):
            if target.point == point and name in target.names:
                return spec, line
    if point in ("model", "answer"):
        for prompt in folder.glob("*.md"):
            if meaningful_lines(prompt):
                return prompt, 1
    return spec, 1


def _folder_of(debugger: Debugger, agent: str) -> Path | None:
    root = debugger.workspace_root
    return None if root is None else root / "agents" / agent


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = json.dumps(text, ensure_ascii=False) if isinstance(value, str) else text
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _parse(raw: str) -> Any:
    """A value as typed in the editor: JSON when it is JSON (``42``, ``"x"``, ``{...}``), else text."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _path(expression: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, index in PATH_PART.findall(expression.strip()):
        parts.append(int(index) if index else name)
    if not parts:
        raise ValueError(f"{expression!r} is not a path like arguments.expression or messages[1].content")
    return parts


def _lookup(data: Any, expression: str) -> Any:
    value = data
    for part in _path(expression):
        value = value[part]
    return value


def _assign(container: Any, name: str, value: Any) -> None:
    if isinstance(container, list):
        container[int(name)] = value
    elif isinstance(container, dict):
        if name not in container:
            raise KeyError(f"no variable {name!r} here; variables: {', '.join(map(str, container))}")
        container[name] = value
    else:
        raise ValueError(f"{name!r} cannot be set")
