"""The rule expression language's tokenizer and parser: text to a typed tree (`catalog.expr`).

Operands are type-checked as they are parsed, so a misspelt attribute, a value outside its
domain or a condition where a number belongs is refused when a model loads, as an
`ExprError` (with the character offset where one is known).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Mapping

from catalog.expr import And, Arith, Cmp, Const, If, In, Node, Not, Num, Or, Prop, Total, Var, implies


class ExprError(ValueError):
    """A parse or type error in an expression; `position` is a 0-based character offset."""

    def __init__(self, reason: str, position: int | None = None):
        super().__init__(reason if position is None else f"{reason} (at character {position + 1})")
        self.reason = reason
        self.position = position


# ---- tokenizer ---------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+\.\d+(?![A-Za-z0-9_]))
  | (?P<word>[A-Za-z0-9_]+)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<op><=|>=|!=|==|=|<|>|\(|\)|\[|\]|,|\+|-|\*|\.)
""", re.VERBOSE)
KEYWORDS = {"and", "or", "not", "implies", "in", "true", "false", "if", "total"}


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup
        value = m.group()
        if kind == "word" and value.isdigit():
            kind = "num"
        elif kind == "word" and value in KEYWORDS:
            kind = "kw"
        elif kind == "str":
            kind, value = "code", value[1:-1]
        if kind != "ws":
            tokens.append((kind, "=" if value == "==" else value, m.start()))
        pos = m.end()
    tokens.append(("end", "", len(text)))
    return tokens


# ---- parser ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttrInfo:
    """What the parser needs to know about an attribute: its type and its domain."""
    type: str                       # enum | int | bool
    domain: tuple
    properties: frozenset = frozenset()   # property names every non-none value defines


# Parsed operand kinds: a finished node plus its type: "bool", "num", "attr" (a bare
# enum/int/bool attribute, usable in value tests) or "code" (an unresolved value literal).
_Operand = tuple


class _Parser:
    def __init__(self, text: str, attrs: Mapping[str, AttrInfo], component_props: frozenset):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.attrs = attrs
        self.component_props = component_props

    # token helpers
    def peek(self, offset: int = 0):
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, value: str) -> bool:
        kind, val, _ = self.peek()
        if val == value and kind in ("op", "kw"):
            self.i += 1
            return True
        return False

    def expect(self, value: str):
        if not self.accept(value):
            kind, val, pos = self.peek()
            raise ExprError(f"expected {value!r} but found {val or 'end of expression'!r}", pos)

    # grammar
    def parse(self) -> Node:
        node = self.condition(self.implication())
        kind, val, pos = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected {val!r}", pos)
        return node

    def implication(self) -> _Operand:
        left = self.disjunction()
        if self.accept("implies"):
            right = self.implication()
            return implies(self.condition(left), self.condition(right)), "bool"
        return left

    def disjunction(self) -> _Operand:
        items = [self.conjunction()]
        while self.accept("or"):
            items.append(self.conjunction())
        if len(items) == 1:
            return items[0]
        return Or(tuple(self.condition(x) for x in items)), "bool"

    def conjunction(self) -> _Operand:
        items = [self.negation()]
        while self.accept("and"):
            items.append(self.negation())
        if len(items) == 1:
            return items[0]
        return And(tuple(self.condition(x) for x in items)), "bool"

    def negation(self) -> _Operand:
        if self.accept("not"):
            return Not(self.condition(self.negation())), "bool"
        return self.comparison()

    def comparison(self) -> _Operand:
        start = self.peek()[2]
        left = self.additive()
        kind, val, pos = self.peek()
        if kind == "kw" and val == "not" and self.peek(1)[1] == "in":
            self.i += 2
            return self.membership(left, True, start), "bool"
        if kind == "kw" and val == "in":
            self.i += 1
            return self.membership(left, False, start), "bool"
        if kind == "op" and val in ("=", "!=", "<", "<=", ">", ">="):
            self.i += 1
            right = self.additive()
            return self.compare(val, left, right, pos), "bool"
        return left

    def membership(self, left: _Operand, negate: bool, pos: int) -> Node:
        node, typ = left
        if typ != "attr":
            raise ExprError("only an attribute can be tested with 'in'", pos)
        self.expect("[")
        values = []
        if not self.accept("]"):
            while True:
                values.append(self.literal_for(node.attr))
                if self.accept("]"):
                    break
                self.expect(",")
        return In(node.attr, tuple(values), negate)

    def literal_for(self, attr: str):
        kind, val, pos = self.take()
        if kind == "op" and val == "-" and self.peek()[0] == "num":
            kind, val, pos = self.take()
            val = "-" + val
        if kind not in ("num", "word", "code", "kw") or (kind == "kw" and val not in ("true", "false")):
            raise ExprError(f"expected a value of {attr} but found {val or 'end of expression'!r}", pos)
        return self.resolve_value(attr, val, pos)

    def resolve_value(self, attr: str, text: str, pos: int):
        info = self.attrs[attr]
        if text == "none" and "none" in info.domain:
            return "none"
        if info.type == "bool":
            if text in ("true", "false"):
                return text == "true"
        elif info.type == "int":
            try:
                number = int(text)
            except ValueError:
                number = None
            if number is not None and number in info.domain:
                return number
        elif text in info.domain:
            return text
        raise ExprError(f"{text!r} is not a value of {attr}", pos)

    def compare(self, op: str, left: _Operand, right: _Operand, pos: int) -> Node:
        (lnode, ltyp), (rnode, rtyp) = left, right
        if op in ("=", "!=") and ltyp == "code" and rtyp == "attr":
            (lnode, ltyp), (rnode, rtyp) = right, left
        if op in ("=", "!=") and ltyp == "attr" and rtyp in ("code", "num", "bool_const"):
            text = rnode if rtyp == "code" else (
                str(rnode.value).lower() if rtyp == "bool_const" else str(rnode.value))
            if rtyp == "num" and self.attrs[lnode.attr].type != "int":
                raise ExprError(f"{lnode.attr} is not a number", pos)
            if rtyp == "num" and _as_int(rnode.value) not in self.attrs[lnode.attr].domain:
                return Cmp(op, Var(lnode.attr), rnode)     # numerically fine, never equal
            return In(lnode.attr, (self.resolve_value(lnode.attr, text, pos),), op == "!=")
        if ltyp == "code" or rtyp == "code":
            word = lnode if ltyp == "code" else rnode
            raise ExprError(f"unknown attribute {word!r}", pos)
        return Cmp(op, self.numeric((lnode, ltyp), pos), self.numeric((rnode, rtyp), pos))

    def additive(self) -> _Operand:
        left = self.multiplicative()
        while True:
            kind, val, pos = self.peek()
            if kind == "op" and val in ("+", "-"):
                self.i += 1
                right = self.multiplicative()
                left = Arith(val, self.numeric(left, pos), self.numeric(right, pos)), "num"
            else:
                return left

    def multiplicative(self) -> _Operand:
        left = self.unary()
        while True:
            kind, val, pos = self.peek()
            if kind == "op" and val == "*":
                self.i += 1
                right = self.unary()
                left = Arith("*", self.numeric(left, pos), self.numeric(right, pos)), "num"
            else:
                return left

    def unary(self) -> _Operand:
        kind, val, pos = self.peek()
        if kind == "op" and val == "-":
            self.i += 1
            return Arith("-", Num(Decimal(0)), self.numeric(self.unary(), pos)), "num"
        return self.primary()

    def primary(self) -> _Operand:
        kind, val, pos = self.take()
        if kind == "num":
            try:
                return Num(Decimal(val)), "num"
            except InvalidOperation:
                raise ExprError(f"bad number {val!r}", pos) from None
        if kind == "op" and val == "(":
            inner = self.implication()
            self.expect(")")
            return inner
        if kind == "kw" and val in ("true", "false"):
            return Const(val == "true"), "bool_const"
        if kind == "kw" and val == "if":
            self.expect("(")
            cond = self.condition(self.implication())
            self.expect(",")
            then = self.numeric(self.implication(), pos)
            self.expect(",")
            other = self.numeric(self.implication(), pos)
            self.expect(")")
            return If(cond, then, other), "num"
        if kind == "kw" and val == "total":
            self.expect("(")
            pkind, prop, ppos = self.take()
            if pkind != "word":
                raise ExprError("total() needs a component property name", ppos)
            if prop not in self.component_props:
                raise ExprError(f"no component has the property {prop!r}", ppos)
            self.expect(")")
            return Total(prop), "num"
        if kind == "word" and val in self.attrs:
            if self.accept("."):
                pkind, prop, ppos = self.take()
                if pkind != "word":
                    raise ExprError("expected a property name after '.'", ppos)
                info = self.attrs[val]
                if info.type != "enum":
                    raise ExprError(f"{val} is not an enumeration and has no properties", ppos)
                if prop not in info.properties:
                    raise ExprError(f"not every value of {val} defines the property {prop!r}", ppos)
                return Prop(val, prop), "num"
            return Var(val), "attr"
        if kind in ("word", "code") or (kind == "kw" and val == "none"):
            return val, "code"
        raise ExprError(f"unexpected {val or 'end of expression'!r}", pos)

    # coercions between operand kinds
    def condition(self, operand: _Operand) -> Node:
        node, typ = operand
        if typ in ("bool", "bool_const"):
            return node
        if typ == "attr" and self.attrs[node.attr].type == "bool":
            return In(node.attr, (True,))
        if typ == "code":
            raise ExprError(f"unknown attribute {node!r}")
        raise ExprError("expected a condition but found a number" if typ == "num"
                        else f"{node.attr} is not a condition; compare it to a value")

    def numeric(self, operand: _Operand, pos: int | None = None) -> Node:
        node, typ = operand
        if typ == "num":
            return node
        if typ == "attr":
            kind = self.attrs[node.attr].type
            if kind == "int":
                return Var(node.attr)
            if kind == "bool":
                return If(In(node.attr, (True,)), Num(Decimal(1)), Num(Decimal(0)))
            raise ExprError(f"{node.attr} is an enumeration; use one of its properties", pos)
        if typ == "code":
            raise ExprError(f"unknown attribute {node!r}", pos)
        raise ExprError("expected a number but found a condition", pos)


def _as_int(value: Decimal):
    return int(value) if value == value.to_integral_value() else None


def parse_condition(text: str, attrs: Mapping[str, AttrInfo],
                    component_props: frozenset = frozenset()) -> Node:
    """Parse a boolean expression."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("expected an expression")
    return _Parser(text, attrs, component_props).parse()


def parse_number(text: str | int, attrs: Mapping[str, AttrInfo],
                 component_props: frozenset = frozenset()) -> Node:
    """Parse a numeric expression (a constant such as 2 is fine)."""
    if isinstance(text, bool):
        raise ExprError("expected a number or an expression")
    if isinstance(text, (int, Decimal)):
        return Num(Decimal(text))
    if not isinstance(text, str) or not text.strip():
        raise ExprError("expected a number or an expression")
    parser = _Parser(text, attrs, component_props)
    node = parser.numeric(parser.additive())
    kind, val, pos = parser.peek()
    if kind != "end":
        raise ExprError(f"unexpected {val!r}", pos)
    return node
