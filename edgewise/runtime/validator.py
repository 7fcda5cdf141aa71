"""A small declarative validator for the JSON-like documents edgewise reads from outside.

Artifact metadata, bundle manifests, ``bundle.json`` and compression recipes arrive from a workstation,
a colleague or a download, so they are untrusted input: each is described once by a table of
``key -> Rule`` (type, range, allowed values, length, nested keys) and checked by ``check`` before
anything is sized from it. ``jsonschema`` would do the same but is not a device dependency (the device
has numpy + onnxruntime/LiteRT only), and these tables need a fraction of it: types, ranges, enums,
regular expressions, list lengths, required and (optionally) closed key sets.

``load_json`` bounds what a document may cost before it is parsed: its size in bytes, then its nesting
depth, counted on the brackets outside strings without parsing (``bracket_depth``). Python's JSON decoder
recurses in C once per level: a 200-KB ``[[[[...`` ends in ``RecursionError`` at the default recursion
limit, but in a process that raised the limit (torch, sympy and others do) it overflows the C stack and
the interpreter dies with a segmentation fault (seen in this test suite), so the depth is checked first.

Every failure is one line naming the document, the key (dotted path), the value received (shortened)
and what was expected, e.g. ``model.onnx: metadata key 'window' is -5: expected an integer in
1..1048576``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

__all__ = ["MAX_DEPTH", "Rule", "bracket_depth", "check", "depth", "describe", "load_json", "show", "size_text"]

MAX_DEPTH = 32  # the deepest edgewise document (a manifest's metadata.training...) is 6 levels

_KIND_NAMES = {"int": "an integer", "number": "a finite number", "str": "a string", "bool": "true or false",
               "null": "null", "list": "a list", "dict": "an object"}


@dataclass(frozen=True)
class Rule:
    """What one value must be.

    Attributes:
        kind: one of ``int`` (not bool), ``number`` (int or finite float, not bool), ``str``, ``bool``,
            ``null``, ``list``, ``dict``; or a tuple of them (``("str", "null")``).
        min, max: bounds of a number, inclusive unless ``min_open`` / ``max_open``.
        allowed: the only values accepted (strings or numbers).
        pattern: a string must fully match this regular expression (``what`` describes it to people).
        min_len, max_len: bounds of a string's characters, a list's items or a dict's keys.
        items: the rule of every list item; ``unique``: list items differ.
        keys: rules of a dict's known keys; ``values``: the rule of any other key.
        required: keys a dict must have.
        closed: a dict may hold no key outside ``keys`` (recipes: a misspelt key must not be ignored).
        what: how to describe the expected value (default: built from the fields above).
    """

    kind: str | tuple[str, ...]
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    allowed: tuple[Any, ...] = ()
    pattern: str | None = None
    min_len: int = 0
    max_len: int | None = None
    items: Rule | None = None
    unique: bool = False
    keys: Mapping[str, Rule] = field(default_factory=dict)
    values: Rule | None = None
    required: tuple[str, ...] = ()
    closed: bool = False
    what: str = ""

    @property
    def kinds(self) -> tuple[str, ...]:
        return (self.kind,) if isinstance(self.kind, str) else tuple(self.kind)


def _fmt(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def describe(rule: Rule) -> str:
    """People's words for what ``rule`` accepts (``"an integer in 1..2048"``)."""
    if rule.what:
        return rule.what
    if rule.allowed:
        text = "one of " + ", ".join(json.dumps(a) for a in rule.allowed)
        return text + (" or null" if "null" in rule.kinds else "")
    parts = []
    for kind in rule.kinds:
        text = _KIND_NAMES[kind]
        if kind in ("int", "number") and (rule.min is not None or rule.max is not None):
            lo = None if rule.min is None else _fmt(rule.min)
            hi = None if rule.max is None else _fmt(rule.max)
            if kind == "int" and lo is not None and hi is not None and not (rule.min_open or rule.max_open):
                text += f" in {lo}..{hi}"
            elif lo is not None and hi is not None:
                text += f" in {'(' if rule.min_open else '['}{lo}, {hi}{')' if rule.max_open else ']'}"
            elif lo is not None:
                text += f" {'>' if rule.min_open else '>='} {lo}"
            else:
                text += f" {'<' if rule.max_open else '<='} {hi}"
        elif kind == "str" and rule.pattern:
            text += f" matching {rule.pattern}"
        elif kind in ("str", "list", "dict") and (rule.min_len or rule.max_len is not None):
            unit = {"str": "characters", "list": "items", "dict": "keys"}[kind]
            n = (f"{rule.min_len}" if rule.min_len == rule.max_len else
                 f"{rule.min_len}..{rule.max_len}" if rule.max_len is not None else f">= {rule.min_len}")
            text += f" of {n} {unit}"
        if kind == "list" and rule.items is not None:
            text += f"{' (unique)' if rule.unique else ''}, each {describe(rule.items)}"
        parts.append(text)
    return " or ".join(parts)


def show(value: Any, limit: int = 60) -> str:
    """A short rendering of a received value (a 50-MB string must not become a 50-MB message)."""
    if isinstance(value, str) and len(value) > limit:
        return json.dumps(value[:limit // 2]) + f"... ({len(value)} characters)"
    if isinstance(value, (list, dict)):
        n = len(value)
        try:
            text = json.dumps(value) if n <= 16 else ""
        except (TypeError, ValueError, RecursionError):
            text = ""
        if text and len(text) <= limit:
            return text
        return f"a list of {n} items" if isinstance(value, list) else f"an object with {n} keys"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _kind_ok(value: Any, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and (not isinstance(value, float) or math.isfinite(value)))
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "list":
        return isinstance(value, list)
    if kind == "dict":
        return isinstance(value, dict)
    raise ValueError(f"unknown rule kind {kind!r}")


def _ok(value: Any, rule: Rule) -> bool:
    """Whether ``value`` itself (not its children) satisfies ``rule``."""
    kinds = [k for k in rule.kinds if _kind_ok(value, k)]
    if not kinds:
        return False
    kind = kinds[0]
    if rule.allowed and kind != "null" and value not in rule.allowed:  # bools were refused by kind
        return False
    if kind in ("int", "number"):
        if rule.min is not None and (value <= rule.min if rule.min_open else value < rule.min):
            return False
        if rule.max is not None and (value >= rule.max if rule.max_open else value > rule.max):
            return False
    if kind in ("str", "list", "dict"):
        if len(value) < rule.min_len or (rule.max_len is not None and len(value) > rule.max_len):
            return False
    if kind == "str" and rule.pattern and not re.fullmatch(rule.pattern, value):
        return False
    if kind == "list" and rule.unique:
        seen = [json.dumps(v, sort_keys=True) for v in value]
        if len(set(seen)) != len(seen):
            return False
    return True


def check(value: Any, rule: Rule, *, key: str, where: str, error: type[Exception] = ValueError,
          noun: str = "key") -> None:
    """Raise ``error`` naming ``where``, the dotted ``key``, the value and the expectation unless
    ``value`` satisfies ``rule`` (children included).

    Args:
        value: the parsed document (or part of it).
        rule: what it must be.
        key: its dotted path in the document (``""`` for the document itself).
        where: the document's name in the message (a file path, ``"[budget]"``).
        error: the exception type raised.
        noun: how keys are called in the message (``"metadata key"``, ``"manifest key"``).
    """
    label = f"{noun} {key!r}" if key else "the document"
    if not _ok(value, rule):
        raise error(f"{where}: {label} is {show(value)}: expected {describe(rule)}")
    if isinstance(value, list) and rule.items is not None:
        for i, item in enumerate(value):
            check(item, rule.items, key=f"{key}[{i}]", where=where, error=error, noun=noun)
    if isinstance(value, dict):
        missing = [k for k in rule.required if k not in value]
        if missing:
            k = missing[0]
            raise error(f"{where}: required {noun} {(key + '.' if key else '') + k!r} is missing "
                        f"(expected {describe(rule.keys[k]) if k in rule.keys else 'a value'})")
        if rule.closed:
            unknown = sorted(str(k) for k in value if k not in rule.keys)
            if unknown:
                raise error(f"{where}: unknown {noun}(s) {unknown}{f' in {key!r}' if key else ''}; "
                            f"allowed: {sorted(rule.keys)}")
        for k, v in value.items():
            sub = rule.keys.get(k, rule.values)
            if sub is not None:
                check(v, sub, key=f"{key}.{k}" if key else str(k), where=where, error=error, noun=noun)


def depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[1]`` is 1), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d + 1)
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


_JSON_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
# TOML: basic and literal strings (one line or multi-line) and comments may hold brackets too
_TOML_STRINGS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def bracket_depth(text: str | bytes, *, toml: bool = False) -> int:
    """The deepest nesting of ``[ ]`` / ``{ }`` outside strings (and TOML comments), without parsing.

    Linear in the text (regular expressions and one cumulative sum); an unbalanced text counts its open
    brackets, which is what a recursive parser would descend into before failing.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    brackets = _NOT_BRACKETS.sub("", (_TOML_STRINGS if toml else _JSON_STRINGS).sub("", text))
    if not brackets:
        return 0
    b = np.frombuffer(brackets.encode("ascii"), np.uint8)
    return int(np.cumsum(np.where((b == ord("[")) | (b == ord("{")), 1, -1)).max())


def size_text(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n >> 10} KB" if n >= 1 << 10 else f"{n} bytes"


def load_json(text: str | bytes, *, where: str, what: str, max_bytes: int, error: type[Exception] = ValueError,
              max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Parse a JSON object of at most ``max_bytes`` bytes and ``max_depth`` levels.

    Args:
        text: the document.
        where: its name in messages (a file path).
        what: what it is (``"the edgewise metadata"``).
        max_bytes: size limit, checked before parsing.
        error: the exception type raised.
        max_depth: nesting limit.

    Raises:
        error: too large, too deep, not JSON, or not a JSON object.
    """
    size = len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
    if size > max_bytes:
        raise error(f"{what} in {where} is {size} bytes; the limit is {size_text(max_bytes)}: not an edgewise "
                    "document, or padded on purpose")
    if bracket_depth(text) > max_depth:  # before the recursive decoder sees it
        raise error(f"{what} in {where} is nested deeper than {max_depth} levels")
    try:
        doc = json.loads(text)
    except RecursionError:
        raise error(f"{what} in {where} is nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, bad UTF-8, a 5000-digit integer
        raise error(f"{what} in {where} is not valid JSON ({' '.join(str(e).split())[:200]})") from e
    if not isinstance(doc, dict):
        raise error(f"{what} in {where} is not a JSON object (got {type(doc).__name__})")
    if depth(doc) > max_depth:
        raise error(f"{what} in {where} is nested deeper than {max_depth} levels")
    return doc
