"""`--where`: a small filter language on event payload fields, tokenized and parsed here (never evaluated).

Grammar (docs/replay.md, "Find by content")::

    expr       := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | comparison
    comparison := field op literal | field ["not"] "in" "(" literal ("," literal)* ")"
    op         := "=" | "!=" | "<" | "<=" | ">" | ">="
    field      := name ("." name)*          name: letters, digits, _ (not starting with a digit)
    literal    := "double" or 'single' quoted string (\\ escapes \\, the quote) | number (-12, 3.5, 1e3)

Keywords (and, or, not, in) are case-insensitive. A comparison is true only when the field exists and holds a
value of the literal's kind (a JSON string for a string, a JSON number for a number); otherwise it is false, so
`not` is its exact complement. The parser builds a tree; store/where_sql.py compiles it with bound parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_LENGTH = 2000  # characters in one expression
MAX_DEPTH = 32  # nesting of parentheses and `not`
MAX_IN_VALUES = 500
KEYWORDS = ("and", "or", "not", "in")


class WhereError(ValueError):
    """A bad expression; the message names the (1-based) character position."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


Literal = str | Decimal


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    field: Field
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


Expr = Comparison | InList | Not | And | Or


@dataclass(frozen=True)
class Token:
    kind: str  # name, string, number, op, lparen, rparen, comma, dot, keyword, end
    text: str
    value: Literal | None
    position: int  # 1-based


_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PUNCT = {"(": "lparen", ")": "rparen", ",": "comma", ".": "dot"}


def tokenize(text: str) -> list[Token]:
    """The tokens of an expression, ending with an `end` token."""
    if len(text) > MAX_LENGTH:
        raise WhereError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        space = _SPACE.match(text, i)
        if space:
            i = space.end()
            continue
        pos = i + 1
        if ch in "\"'":
            string, i = _string(text, i)
            tokens.append(Token("string", text[pos - 1 : i], string, pos))
        elif text.startswith(("!=", "<=", ">="), i):
            tokens.append(Token("op", text[i : i + 2], None, pos))
            i += 2
        elif ch in "=<>":
            tokens.append(Token("op", ch, None, pos))
            i += 1
        elif ch == "!":
            raise WhereError("unexpected '!' (did you mean '!='?)", pos)
        elif (number := _NUMBER.match(text, i)) and not (ch == "." and tokens and tokens[-1].kind == "name"):
            try:
                value = Decimal(number.group())
            except InvalidOperation:  # pragma: no cover - the pattern only matches valid numbers
                raise WhereError(f"bad number {number.group()!r}", pos) from None
            if value and not -300 <= value.adjusted() <= 300:
                raise WhereError(f"number {number.group()!r} out of range", pos)
            tokens.append(Token("number", number.group(), value, pos))
            i = number.end()
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, None, pos))
            i += 1
        elif name := _NAME.match(text, i):
            word = name.group()
            kind = "keyword" if word.lower() in KEYWORDS else "name"
            tokens.append(Token(kind, word.lower() if kind == "keyword" else word, None, pos))
            i = name.end()
        else:
            raise WhereError(f"unexpected character {ch!r}", pos)
    tokens.append(Token("end", "", None, len(text) + 1))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise WhereError("unterminated string", start + 1)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_keyword(self, word: str) -> bool:
        return self.current.kind == "keyword" and self.current.text == word

    def expect(self, kind: str, what: str) -> Token:
        if self.current.kind != kind:
            raise WhereError(f"expected {what}, found {_shown(self.current)}", self.current.position)
        return self.take()

    def parse(self) -> Expr:
        expr = self.or_()
        if self.current.kind != "end":
            raise WhereError(
                f"expected 'and', 'or' or the end, found {_shown(self.current)}", self.current.position
            )
        return expr

    def or_(self) -> Expr:
        operands = [self.and_()]
        while self.is_keyword("or"):
            self.take()
            operands.append(self.and_())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_(self) -> Expr:
        operands = [self.unary()]
        while self.is_keyword("and"):
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Expr:
        token = self.current
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WhereError(f"expression nested deeper than {MAX_DEPTH}", token.position)
        try:
            if self.is_keyword("not"):
                self.take()
                return Not(self.unary())
            if token.kind == "lparen":
                self.take()
                expr = self.or_()
                self.expect("rparen", "')'")
                return expr
            return self.comparison()
        finally:
            self.depth -= 1

    def comparison(self) -> Expr:
        field = self.field()
        negated = False
        if self.is_keyword("not"):
            self.take()
            if not self.is_keyword("in"):
                raise WhereError(
                    f"expected 'in' after 'not', found {_shown(self.current)}", self.current.position
                )
            negated = True
        if self.is_keyword("in"):
            self.take()
            self.expect("lparen", "'(' after 'in'")
            values = [self.literal()]
            while self.current.kind == "comma":
                self.take()
                values.append(self.literal())
                if len(values) > MAX_IN_VALUES:
                    raise WhereError(f"more than {MAX_IN_VALUES} values in a list", self.current.position)
            self.expect("rparen", "',' or ')'")
            return InList(field, tuple(values), negated)
        if self.current.kind != "op":
            raise WhereError(
                f"expected an operator (= != < <= > >= in) after {field.dotted!r}, found {_shown(self.current)}",
                self.current.position,
            )
        op = self.take().text
        return Comparison(field, op, self.literal())

    def field(self) -> Field:
        first = self.expect("name", "a field name")
        parts = [first.text]
        while self.current.kind == "dot":
            self.take()
            parts.append(self.expect("name", "a field name after '.'").text)
        return Field(tuple(parts))

    def literal(self) -> Literal:
        token = self.current
        if token.kind in ("string", "number"):
            self.take()
            assert token.value is not None
            return token.value
        raise WhereError(f"expected a string or a number, found {_shown(token)}", token.position)


def _shown(token: Token) -> str:
    return "the end" if token.kind == "end" else repr(token.text)


def looks_like_where(text: str) -> bool:
    """Whether a search box's text is a payload filter (`amount >= 1000`, `user_id in ("u1")`) rather than an
    event, user or reward id (ids hold none of `=<>!` and no ` in (`)."""
    return any(c in text for c in "=<>!") or " in (" in text.lower() or " in(" in text.lower()


def parse_where(text: str) -> Expr:
    """The tree of an expression; WhereError (naming the position) when it is not one."""
    if not text.strip():
        raise WhereError("empty expression", 1)
    return _Parser(tokenize(text)).parse()


@dataclass(frozen=True)
class Where:
    """A `--where` expression parsed once, where it enters (an option, the console's search box): its text, as
    shown and stored with a replay job, and its tree, which store/where_sql.py compiles."""

    text: str
    expr: Expr

    @classmethod
    def parse(cls, text: str) -> Where:
        """WhereError (naming the position) when `text` is not an expression."""
        return cls(text, parse_where(text))

    def __str__(self) -> str:
        return self.text
