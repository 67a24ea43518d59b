"""Config errors as the person editing the file needs them: file, field, what is allowed, a near miss.

Generic over the pydantic model: the allowed keys and values are read from the model itself at
the error's location, so new config fields get the same messages without code here. Three
things are never shown: a traceback, the whole input of a cross-field check, a raw regex.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

# A list longer than this is not printed whole; the near misses are.
_LISTED_CHOICES = 12
_SHOWN_INPUT = 80


class ConfigError(Exception):
    """A config file that cannot be used; the message is meant for the person editing it."""


class FieldProblems(ValueError):
    """Raised by a check across several fields: each problem (field, message, got) names its own field."""

    def __init__(self, problems: Sequence) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


def unknown_choice(kind: str, value: str, choices: Sequence[str], where: str) -> PydanticCustomError:
    """Raise from a validator when `value` is not one of a known, pinned set (regions, instance types)."""
    return PydanticCustomError(
        "unknown_choice",
        "unknown {kind} '{value}' ({where})",
        {"kind": kind, "value": value, "where": where, "choices": tuple(choices)},
    )


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """'; did you mean 'x'?' for a near miss of `value` among `choices`, else ''."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=3, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(value.lower().strip(), list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return f"; did you mean {_either(close)}?"


def format_validation_error(source: str, error: ValidationError, model: type[BaseModel]) -> ConfigError:
    problems = "\n  ".join(describe(e, model) for e in error.errors(include_url=False))
    return ConfigError(f"{source}: invalid configuration\n  {problems}")


def describe(error: dict, model: type[BaseModel]) -> str:
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblems):
        return "\n  ".join(
            f"field '{p.field}': {p.message}" + (f" ({_got(p.got)})" if _is_scalar(p.got) else "") for p in cause.problems
        )
    loc = error["loc"]
    field = _dotted(loc) or "(top level)"
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        allowed = _keys_at(model, loc[:-1])
        listed = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return f"field '{field}': unknown key{did_you_mean(str(loc[-1]), allowed)}{listed}"
    if kind == "missing":
        return f"field '{field}': required but missing"
    if kind == "unknown_choice":
        context = error["ctx"]
        return f"field '{field}': {error['msg']}{did_you_mean(value, context['choices'])}"
    if kind == "literal_error":
        allowed = _literal_values(model, loc)
        return f"field '{field}': {_allowed(allowed)} ({_got(value)}){did_you_mean(value, allowed)}"
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        # YAML reads unquoted digits as a number: leading zeros vanish, and a leading 0 means octal.
        key = next((str(p) for p in reversed(loc) if isinstance(p, str)), field)
        quoted = f'{key}: ["...", ...]' if isinstance(loc[-1], int) else f'{key}: "..."'
        return (
            f"field '{field}': must be text in quotes; YAML read the unquoted value as the number {value!r} "
            f"(it drops leading zeros and reads a leading 0 as octal). Write it in quotes: {quoted}"
        )
    if kind == "string_pattern_mismatch":
        shape = _description(model, loc) or "in the documented form (see README.md, 'Config reference')"
        return f"field '{field}': must be {shape} ({_got(value)})"
    message = error["msg"].removeprefix("Value error, ")
    if not loc:
        # A check across the whole file names its own fields.
        return message
    # A cross-field check gets the whole mapping as input: naming the fields is enough.
    shown = f" ({_got(value)})" if _is_scalar(value) else ""
    return f"field '{field}': {message}{shown}"


def _dotted(loc: Sequence[object]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_scalar(value: object) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _got(value: object) -> str:
    shown = repr(value)
    return f"got {shown}" if len(shown) <= _SHOWN_INPUT else f"got {shown[:_SHOWN_INPUT]}..."


def _allowed(values: Sequence[object]) -> str:
    if not values:
        return "not an allowed value"
    if len(values) > _LISTED_CHOICES:
        return f"must be one of {len(values)} values such as {values[0]!r}"
    return f"must be {_either(values)}" if len(values) <= 2 else f"must be one of {', '.join(repr(v) for v in values)}"


def _either(values: Sequence[object]) -> str:
    """'a', 'a' or 'b', 'a', 'b' or 'c'."""
    quoted = [repr(v) for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _keys_at(model: type[BaseModel], loc: Sequence[object]) -> list[str]:
    found = _walk(model, loc)
    targets = [m for o in _options(found[0]) if (m := _model_in(o))] if found else []
    return [key for target in targets for key in _keys(target)]


def _literal_values(model: type[BaseModel], loc: Sequence[object]) -> list[object]:
    found = _walk(model, loc)
    if not found:
        return []
    annotation, _ = found
    literals = [option for option in _options(annotation) if typing.get_origin(option) is typing.Literal]
    return [value for literal in literals for value in typing.get_args(literal)]


def _description(model: type[BaseModel], loc: Sequence[object]) -> str | None:
    found = _walk(model, loc)
    return found[1].description if found and found[1] is not None else None


def _walk(model: type[BaseModel], loc: Sequence[object]) -> tuple[object, FieldInfo | None] | None:
    """The annotation and field info at `loc` inside `model`, following models, lists and dicts."""
    annotation: object = model
    info: FieldInfo | None = None
    for part in loc:
        options = _options(annotation)
        submodel = next((_model_in(o) for o in options if _model_in(o) and part in _keys(_model_in(o))), None)
        if submodel is not None:
            info = _keys(submodel)[part]
            annotation = info.annotation
            continue
        container = next((o for o in options if typing.get_origin(o) in (list, tuple, set, frozenset, dict)), None)
        if container is None:
            return None
        args = typing.get_args(container)
        item = args[-1] if typing.get_origin(container) is dict else args[0]
        info = next((m for m in typing.get_args(item)[1:] if isinstance(m, FieldInfo)), None) or info
        annotation = item
    return annotation, info


def _keys(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the key written in the file (the alias where there is one, as in `async`)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _options(annotation: object) -> list[object]:
    """The alternatives of a union (None dropped), each with its Annotated wrapper removed."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [o for a in typing.get_args(annotation) if a is not type(None) for o in _options(a)]
    return [annotation]


def _model_in(annotation: object) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
