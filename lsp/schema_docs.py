"""Keys, their documentation and allowed values, read from the pydantic models (one source of truth)."""

from __future__ import annotations

import types as pytypes
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from sutazai.agents.smoke.spec import SmokeFile
from sutazai.agents.spec import AgentSpec


@dataclass(frozen=True)
class KeyDoc:
    name: str
    doc: str
    values: tuple[str, ...] = ()
    child: type[BaseModel] | None = None


def _unwrap(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin in (typing.Union, pytypes.UnionType):
        return [a for arg in get_args(annotation) for a in _unwrap(arg)]
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    return [annotation]


def keys_of(model: type[BaseModel]) -> dict[str, KeyDoc]:
    out: dict[str, KeyDoc] = {}
    for name, field in model.model_fields.items():
        values: list[str] = []
        child: type[BaseModel] | None = None
        for arg in _unwrap(field.annotation):
            if get_origin(arg) is Literal:
                values += [str(v) for v in get_args(arg)]
            elif arg is bool:
                values += ["true", "false"]
            elif isinstance(arg, type) and issubclass(arg, BaseModel):
                child = arg
            elif get_origin(arg) is list:
                inner = get_args(arg)[0] if get_args(arg) else None
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    child = inner
        doc = field.description or (child.__doc__ or "").strip() if child else field.description or ""
        out[name] = KeyDoc(name, doc or "", tuple(values), child)
    return out


ROOTS: dict[str, type[BaseModel]] = {"agent": AgentSpec, "smoke": SmokeFile}


def model_at(kind: str, path: list[str]) -> type[BaseModel] | None:
    """The model whose keys are valid at ``path`` (a list of parent keys) in a file of ``kind``."""
    model: type[BaseModel] | None = ROOTS.get(kind)
    for part in path:
        if model is None:
            return None
        doc = keys_of(model).get(part)
        model = doc.child if doc else None
    return model
