"""Field rules: the one table that says what each target key may hold.

A spec dataclass declares its limits on its fields with `limit(...)`; `rules(cls)` reads them
back, together with the field's type. The TOML loader (key names, unknown and missing keys) and
construction in code (types and ranges, in `Checked.__post_init__`) both read this one table,
so no kind needs a hand-written validator and the two paths cannot disagree.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import MISSING, dataclass
from functools import cache
from typing import Any

from snapdeploy.core.errors import TargetError

_TOML_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    dict: "table",
}


@dataclass(frozen=True)
class Rule:
    """What one field accepts: its TOML key, type, bounds, allowed strings, and whether it is needed."""

    attr: str
    key: str
    type: type
    optional: bool
    required: bool
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    hint: str | None = None

    def expected(self) -> str:
        """Describe an accepted value, for the 'fix:' part of a message."""
        text = self._expected_value()
        return f"{text} (or leave {self.key} out)" if self.optional else text

    def check(self, value: Any) -> Any:
        """Return `value` in the field's type (ints widen to float); raise ValueError saying why not."""
        if value is None and self.optional:
            return None
        if not _has_type(value, self.type):
            raise ValueError(
                f"{self.key} = {_show(value)} has the wrong type ({_toml_type(value)})"
            )
        if self.type is float:
            value = float(value)
        if not self._in_range(value):
            raise ValueError(f"{self.key} = {_show(value)} is out of range")
        if not self._text_ok(value):
            raise ValueError(f"{self.key} = {_show(value)} is not an accepted value")
        return value

    def _expected_value(self) -> str:
        if self.type is bool:
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        if self.hint is not None:
            return self.hint
        if self.type is str:
            return "a non-empty string"
        noun = "an integer" if self.type is int else "a number"
        bounds = self._bounds_text()
        return f"{noun} {bounds}" if bounds else noun

    def _bounds_text(self) -> str:
        if self.ge is not None and self.le is not None:
            return f"from {self.ge} to {self.le}"
        parts = [
            f"{op} {bound}"
            for op, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le))
            if bound is not None
        ]
        return " and ".join(parts)

    def _in_range(self, value: Any) -> bool:
        if self.type not in (int, float):
            return True
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
        )

    def _text_ok(self, value: Any) -> bool:
        if self.type is not str:
            return True
        if self.choices:
            return value in self.choices
        if self.pattern is not None:
            return re.fullmatch(self.pattern, value) is not None
        return value.strip() != ""


def limit(
    default: Any = MISSING,
    *,
    key: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] = (),
    pattern: str | None = None,
    hint: str | None = None,
    kw_only: bool = False,
) -> Any:
    """Declare a field read from a target file: its default (none = required) and its limits.

    `key` is the TOML key when it differs from the field name; `pattern` (a full match) needs a
    `hint` saying in words what it accepts; `kw_only` lets a base class's optional field come
    before its subclasses' required ones.
    """
    bounds = {
        "key": key,
        "ge": ge,
        "gt": gt,
        "le": le,
        "choices": choices,
        "pattern": pattern,
        "hint": hint,
    }
    return dataclasses.field(default=default, kw_only=kw_only, metadata={"limit": bounds})


@cache
def rules(cls: type) -> tuple[Rule, ...]:
    """The rules of every `limit` field of a spec dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    found = []
    for spec_field in dataclasses.fields(cls):
        if "limit" not in spec_field.metadata:
            continue
        bounds = dict(spec_field.metadata["limit"])
        value_type, optional = _unwrap_optional(hints[spec_field.name])
        found.append(
            Rule(
                attr=spec_field.name,
                key=bounds.pop("key") or spec_field.name,
                type=value_type,
                optional=optional,
                required=spec_field.default is MISSING,
                **bounds,
            )
        )
    return tuple(found)


class Checked(ABC):
    """Mixin for frozen spec dataclasses: check every `limit` field when the object is made.

    So no out-of-range spec exists, whether it came from a file or from code. Subclasses say
    where they sit in a target file (`location`) and may add checks across fields
    (`check_consistency`, raising TargetError).
    """

    def __post_init__(self) -> None:
        for rule in rules(type(self)):
            try:
                value = rule.check(getattr(self, rule.attr))
            except ValueError as problem:
                raise TargetError(
                    f"{self.location()} {problem}; fix: set {rule.key} to {rule.expected()}"
                ) from None
            object.__setattr__(self, rule.attr, value)
        self.check_consistency()

    @abstractmethod
    def location(self) -> str:
        """Where this object sits in a target file, e.g. '[devices.fpga]'."""

    def check_consistency(self) -> None:
        """Checks that involve more than one field; none by default."""


def did_you_mean(word: str, options: typing.Iterable[str]) -> str:
    """' did you mean 'x'?' for the closest option, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" did you mean {close[0]!r}?" if close else ""


def _unwrap_optional(hint: Any) -> tuple[type, bool]:
    """`int | None` -> (int, True); `int` -> (int, False)."""
    if isinstance(hint, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not types.NoneType]
        return inner, True
    return hint, False


def _has_type(value: Any, wanted: type) -> bool:
    """TOML typing: a bool is never a number; an integer is accepted where a float is."""
    if isinstance(value, bool):
        return wanted is bool
    return isinstance(value, wanted) or (wanted is float and isinstance(value, int))


def _toml_type(value: Any) -> str:
    return _TOML_TYPE_NAMES.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value as it would be written in TOML, so the message matches the file."""
    return str(value).lower() if isinstance(value, bool) else repr(value)
