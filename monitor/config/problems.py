"""Turn pydantic validation errors into ``ConfigProblem``s that point at file:line.

A pydantic error location such as ``("recipients", 0, "telegram", "email")`` is walked
through the file's plain data to find the key path the user wrote
(``recipients[0].email``) and its line. Unknown keys get a "did you mean" hint or
the list of keys allowed there. Messages never include the rejected value.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from rapidfuzz import fuzz, process

from monitor.config.yaml_source import Path_, YamlDocument, format_path
from monitor.errors import ConfigProblem


def _child(node: Any, segment: str | int) -> tuple[bool, Any]:
    if isinstance(node, dict) and isinstance(segment, str) and segment in node:
        return True, node[segment]
    if isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
        return True, node[segment]
    return False, None


def locate(loc: tuple[str | int, ...], data: Any) -> Path_:
    """The key path in ``data`` that a pydantic ``loc`` points at.

    Segments that are not keys of the data (a tagged union's tag such as ``email``,
    a validator's name) are skipped, except a last one: a missing key, kept for
    display. A tag that is also a key (``channel: email`` next to ``email: ...``) is
    told apart by looking ahead: the next segment must be found inside a real key.
    """
    path: list[str | int] = []
    node = data
    last = len(loc) - 1
    for index, segment in enumerate(loc):
        found, child = _child(node, segment)
        if found and index < last:
            found = _child(child, loc[index + 1])[0] or not _child(node, loc[index + 1])[0]
        if found:
            node = child
        elif index == last and isinstance(segment, str) and isinstance(node, dict):
            node = None
        else:
            continue
        path.append(segment)
    return tuple(path)


def _members(annotation: Any) -> Iterator[Any]:
    """The types an annotation may hold, through Annotated, Optional and unions."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _members(get_args(annotation)[0])
    elif origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            yield from _members(arg)
    else:
        yield annotation


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_annotation(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _tagged(model: type[BaseModel], tag: str) -> bool:
    for info in model.model_fields.values():
        if get_origin(info.annotation) is Literal and tag in get_args(info.annotation):
            return True
    return False


def allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys of the model that holds the last segment of ``loc``."""
    current: list[Any] = [model]
    for segment in loc[:-1]:
        members = [m for tp in current for m in _members(tp)]
        following: list[Any] = []
        for tp in members:
            if isinstance(segment, int) and get_origin(tp) is tuple:
                following.append(get_args(tp)[0])
            elif isinstance(segment, str) and _is_model(tp):
                annotation = _field_annotation(tp, segment)
                if annotation is not None:
                    following.append(annotation)
        if not following:  # a tagged union's tag: keep the members it names
            following = [tp for tp in members if _is_model(tp) and _tagged(tp, str(segment))]
        current = following or current
    keys: list[str] = []
    for tp in (m for c in current for m in _members(c)):
        if _is_model(tp):
            keys += [info.alias or name for name, info in tp.model_fields.items()]
    return list(dict.fromkeys(keys))


def unknown_key_message(key: str, allowed: list[str]) -> str:
    message = f"unknown key {key!r}"
    best = process.extractOne(key, allowed, scorer=fuzz.ratio, score_cutoff=70)
    if best:
        return f"{message} (did you mean {best[0]!r}?)"
    if allowed:
        return f"{message}; allowed here: {', '.join(allowed)}"
    return message


def _message(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind = error["type"]
    message = error["msg"]
    if kind == "extra_forbidden":
        return unknown_key_message(str(error["loc"][-1]), allowed_keys(model, error["loc"]))
    if kind == "missing":
        return "required key missing"
    if kind == "union_tag_not_found":
        return "required key missing (the channel: console, telegram, email or webhook)"
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"unknown channel; expected one of {expected}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "expected a mapping (key: value lines)"
    if kind in ("tuple_type", "list_type"):
        return "expected a list"
    if kind == "too_short":
        return f"needs at least {error.get('ctx', {}).get('min_length', 1)} item(s)"
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message


def translate(
    exc: ValidationError, doc: YamlDocument, model: type[BaseModel]
) -> list[ConfigProblem]:
    """One problem per pydantic error, at the line of the key it concerns."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        path = locate(error["loc"], doc.data)
        if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
            path = (*path, "channel")
        problems.append(
            ConfigProblem(doc.file, doc.line_of(path), format_path(path), _message(error, model))
        )
    return problems
