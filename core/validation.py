"""Reading declarative files (product models, price books, rule sets) with precise errors.

Every loader collects all the problems it can find, each naming the file, the path inside it
and the reason, so an author fixes a file in one round rather than one error at a time. The
typed readers here are shared by the loaders; each loader adds what is specific to its format.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from core.locales import DEFAULT, LANGUAGES, Text

MAX_INTEGER = 2**31 - 1       # what every database's integer column holds
#: an exact decimal written as text, in documents and the API alike: ASCII digits, a point, no
#: exponent (Decimal alone also reads "1_0", other scripts' digits, spaces and 1e999999999)
DECIMAL = r"[0-9]{1,15}(\.[0-9]{1,9})?"
MAX_DEPTH = 32                # how deep a document or request body may nest (the demo files: 8)
TOO_DEEP = f"nests deeper than {MAX_DEPTH} levels"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when present: 5x faster


@dataclass(frozen=True)
class DocumentError:
    file: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(top)'}: {self.reason}"


class DocumentValidationError(ValueError):
    """A file failed validation; `kind` names the format ("model", "price book", ...)."""

    def __init__(self, errors: list[DocumentError], kind: str = "model"):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
        self.kind = kind


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as text, or None: a NUL (PostgreSQL refuses it) or a lone
    surrogate (JSON's "\\ud800" reads as one, and it has no UTF-8 encoding)."""
    if "\x00" in text:
        return "contains a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate, which is not Unicode text"
    return None


def unsafe_values(data: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, reason) for each place where plain data from outside (JSON, YAML, CSV rows) holds
    what no column or reader takes: text or a key that `text_problem` refuses, a number that is
    not finite, nesting deeper than MAX_DEPTH. Walked without recursion, and a container shared
    through YAML aliases only once, so neither depth nor aliases can make the walk itself fail."""
    problems: list[tuple[str, str]] = []
    seen: set[int] = set()
    stack = [(data, path, 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            reason = text_problem(value)
        elif isinstance(value, float):
            reason = None if math.isfinite(value) else "is not a finite number"
        elif isinstance(value, (dict, list)) and id(value) not in seen:
            seen.add(id(value))
            if depth == MAX_DEPTH:
                problems.append((where, TOO_DEEP))
                continue
            items = list(value.items() if isinstance(value, dict) else enumerate(value))
            for key, _item in items:
                if isinstance(key, str) and (reason := text_problem(key)):
                    problems.append((where, f"a key {reason}"))
            stack.extend((item, join(where, key), depth + 1) for key, item in reversed(items))
            continue
        else:
            continue
        if reason:
            problems.append((where, reason))
    return problems


def check_plain(data: Any, file: str, kind: str, path: str = "") -> Any:
    """`data` if `unsafe_values` finds nothing in it, else DocumentValidationError naming each place."""
    problems = unsafe_values(data, path)
    if problems:
        raise DocumentValidationError([DocumentError(file, where, reason) for where, reason in problems], kind)
    return data


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def parse_json(text: str | bytes, file: str, kind: str) -> Any:
    """A JSON document as plain data that `check_plain` accepts. Whatever is not JSON (bytes
    that are not UTF-8, 16 or 32, NaN and Infinity, numbers longer than Python reads) raises
    json.JSONDecodeError, for the caller to say how it reports that."""
    try:
        if isinstance(text, bytes):
            text = text.decode(json.detect_encoding(text))
        data = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise DocumentValidationError([DocumentError(file, "", TOO_DEEP)], kind) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), "", 0) from None
    return check_plain(data, file, kind)


def parse_yaml(text: str, file: str, kind: str) -> Any:
    """A YAML document as plain data that `check_plain` accepts."""
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except RecursionError:
        raise DocumentValidationError([DocumentError(file, "", TOO_DEEP)], kind) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise DocumentValidationError([DocumentError(file, where, f"invalid YAML: {reason}")], kind)
    return check_plain(data, file, kind)


def read_file(path: str | Path, kind: str) -> str:
    """A document's text; an unreadable file is a validation error naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DocumentValidationError([DocumentError(str(path), "", f"cannot read file: {exc.strerror}")], kind)


def digest(source: Any) -> str:
    """Content hash of a document's plain data: equal content, equal digest."""
    return hashlib.sha256(json.dumps(source, sort_keys=True, default=str).encode()).hexdigest()


def to_decimal(raw: Any) -> Decimal | None:
    """A Decimal of at most 15 digits before the point from a Decimal, a YAML/JSON number or
    text in the DECIMAL pattern (floats via their repr, so 0.1 stays 0.1); None for anything
    else, booleans included."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
        return None
    if isinstance(raw, str) and not re.fullmatch(f"-?{DECIMAL}", raw):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() and abs(value) < 10**15 else None


def join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class Reader:
    """Typed readers that record an error and return a fallback instead of raising."""

    kind = "model"

    def __init__(self, file: str):
        self.file = file
        self.errors: list[DocumentError] = []

    def error(self, path: str, reason: str) -> None:
        self.errors.append(DocumentError(self.file, path, reason))

    def check(self) -> None:
        """Raise the collected errors, if any."""
        if self.errors:
            raise DocumentValidationError(self.errors, self.kind)

    def mapping(self, value: Any, path: str, known: tuple[str, ...]) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, "expected a mapping")
            return None
        for key in value:
            if key not in known:
                self.error(join(path, key), f"unknown field; expected one of {', '.join(known)}")
        return value

    def text(self, m: dict, key: str, path: str, required: bool = False, default: str = "",
             pattern: re.Pattern | None = None) -> str:
        value = m.get(key)
        where = join(path, key)
        if value is None:
            if required:
                self.error(where, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            self.error(where, "expected a non-empty text")
            return default
        if pattern is not None and not pattern.match(value):
            self.error(where, f"{value!r} must match {pattern.pattern}")
        return value

    def localized(self, m: dict, key: str, path: str, required: bool = False, default: str = "") -> Text:
        """One text, or a text per language (`{en: ..., fr: ...}`): English is required, and is
        what a language the mapping leaves out falls back to."""
        value = m.get(key)
        if not isinstance(value, dict):
            return Text(self.text(m, key, path, required, default))
        where = join(path, key)
        self.mapping(value, where, LANGUAGES)
        if DEFAULT not in value:
            self.error(join(where, DEFAULT), "is required (the text shown in any other language)")
        texts = {language: self.text(value, language, where, required=True)
                 for language in LANGUAGES if language in value}
        return Text(texts.get(DEFAULT, default), texts)

    def integer(self, m: dict, key: str, path: str, required: bool = False,
                minimum: int | None = None, maximum: int | None = None) -> int | None:
        value = m.get(key)
        where = join(path, key)
        if value is None:
            if required:
                self.error(where, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, "expected an integer")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"from {minimum}" if minimum is not None else ""
            bounds += f" to {maximum}" if maximum is not None else " or more"
            self.error(where, f"must be an integer {bounds.strip()}")
            return None
        return value

    def number(self, value: Any, path: str, minimum: Decimal | None = None,
               maximum: Decimal | None = None) -> Decimal | None:
        number = to_decimal(value)
        if number is None:
            self.error(path, "expected a number")
            return None
        if minimum is not None and number < minimum:
            self.error(path, f"must be at least {minimum}")
            return None
        if maximum is not None and number > maximum:
            self.error(path, f"must be at most {maximum}")
            return None
        return number

    def decimals(self, value: Any, path: str, name_pattern: re.Pattern) -> dict[str, Decimal]:
        """A mapping of names (matching `name_pattern`) to numbers."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, "expected a mapping of names to numbers")
            return {}
        out = {}
        for name, raw in value.items():
            if not isinstance(name, str) or not name_pattern.match(name):
                self.error(join(path, name), f"names must match {name_pattern.pattern}")
                continue
            number = self.number(raw, join(path, name))
            if number is not None:
                out[name] = number
        return out

    def listing(self, m: dict, key: str, path: str, required: bool = False) -> list:
        value = m.get(key)
        where = join(path, key)
        if value is None:
            if required:
                self.error(where, "is required")
            return []
        if not isinstance(value, list):
            self.error(where, "expected a list")
            return []
        return value

    def day(self, m: dict, key: str, path: str) -> date | None:
        """A calendar date (YAML date or ISO text)."""
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.error(join(path, key), "expected a date (YYYY-MM-DD)")
        return None

    def flag(self, m: dict, key: str, path: str, default: bool = False) -> bool:
        value = m.get(key, default)
        if not isinstance(value, bool):
            self.error(join(path, key), "expected true or false")
            return default
        return value
