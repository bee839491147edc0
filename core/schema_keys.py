"""Keys, their documentation and allowed values, read from the pydantic models (one source of truth).

The loader uses them to suggest the key a typo meant; the language server to complete and hover."""

from __future__ import annotations

import difflib
import types as pytypes
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel


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


def model_under(model: type[BaseModel] | None, path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model whose keys are valid at ``path`` below ``model``; list indexes are skipped."""
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        doc = keys_of(model).get(part)
        model = doc.child if doc else None
    return model


def closest(word: str, options: Sequence[str]) -> str | None:
    """The option a typo most likely meant, if any is close enough."""
    found = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return found[0] if found else None
