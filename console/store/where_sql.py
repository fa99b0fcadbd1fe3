"""Compile a parsed `--where` expression to SQL over the event payload, every value a bound parameter.

SQLite reads the payload BLOB with json_type/json_extract; PostgreSQL reads it as jsonb with `#>` / `#>>`. A
comparison holds only when the field has the literal's JSON kind (string or number), and is never NULL, so `not`
is its exact complement on both stores.

A payload that is not JSON (a dispatcher may send any bytes) matches no expression, `not` included: it is
skipped, and `skipped_payloads` counts it for the commands' note. On PostgreSQL the cast goes through
`hookconsole_payload_doc`, a function created with the store that answers NULL where the cast would fail (a
store opened read-only that predates it is read with the plain cast, as before).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlalchemy import text as sa_text

from console.domain.where import And, Comparison, Expr, InList, Literal, Not, Or, Where
from console.store.dialect import Dialect

_SQLITE_DOC = "CAST(e.payload AS TEXT)"
_SQLITE_VALID = f"json_valid({_SQLITE_DOC})"
# PostgreSQL's JSON types refuse a \u0000 escape anywhere in a document (even off the path read), so it is
# read as U+FFFD; SQLite reads a string holding one only up to it.
_PG_CAST = "replace(convert_from({}, 'UTF8'), '\\u0000', '\\uFFFD')::jsonb"
PG_DOC_FUNCTION = "hookconsole_payload_doc"
PG_DOC_DDL = f"""
CREATE OR REPLACE FUNCTION {PG_DOC_FUNCTION}(payload bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL RESTRICTED AS $$
BEGIN
    RETURN {_PG_CAST.format("payload")};
EXCEPTION WHEN data_exception THEN
    RETURN NULL;  -- not UTF-8, or not JSON
END $$"""


def _pg_doc(dialect: Dialect) -> str:
    return f"{PG_DOC_FUNCTION}(e.payload)" if dialect.payload_reader else _PG_CAST.format("e.payload")


def _is_json(dialect: Dialect) -> str:
    if dialect.name == "postgresql":
        return f"({_pg_doc(dialect)} IS NOT NULL)" if dialect.payload_reader else "TRUE"
    return f"({_SQLITE_VALID} = 1)"


def payload_not_json(dialect: Dialect) -> ColumnElement[bool]:
    """Events (`e`) whose payload is not JSON: the ones every `--where` skips."""
    return and_(sa_text(f"(NOT {_is_json(dialect)})"))


def where_clause(dialect: Dialect, where: Where) -> ColumnElement[bool]:
    """`(...)` over `event e` for a parsed expression, as a SQLAlchemy condition with named binds."""
    params: dict[str, Any] = {}
    sql = _compile(dialect, where.expr, params)
    return and_(sa_text(f"({_is_json(dialect)} AND {sql})").bindparams(**params))


def _bind(params: dict[str, Any], value: Any) -> str:
    """A new named bind for `value`: where_0, where_1, ... in the order the SQL reads them."""
    name = f"where_{len(params)}"
    params[name] = value
    return f":{name}"


def _compile(dialect: Dialect, expr: Expr, params: dict[str, Any]) -> str:
    if isinstance(expr, And):
        return "(" + " AND ".join(_compile(dialect, e, params) for e in expr.operands) + ")"
    if isinstance(expr, Or):
        return "(" + " OR ".join(_compile(dialect, e, params) for e in expr.operands) + ")"
    if isinstance(expr, Not):
        return f"(NOT {_compile(dialect, expr.operand, params)})"
    if isinstance(expr, InList):
        tests = [_comparison(dialect, expr.field.path, "=", v, params) for v in expr.values]
        joined = "(" + " OR ".join(tests) + ")"
        return f"(NOT {joined})" if expr.negated else joined
    assert isinstance(expr, Comparison)
    return _comparison(dialect, expr.field.path, expr.op, expr.value, params)


def _comparison(
    dialect: Dialect, path: tuple[str, ...], op: str, value: Literal, params: dict[str, Any]
) -> str:
    """One test, false (never NULL) when the field is missing or of another kind."""
    is_number = isinstance(value, Decimal)
    if dialect.name == "postgresql":
        # The path is a text[] parameter; the cast to numeric runs only on JSON numbers (CASE keeps the order).
        kind = "number" if is_number else "string"
        cast = "::numeric" if is_number else ' COLLATE "C"'
        doc = _pg_doc(dialect)
        typed = f"jsonb_typeof({doc} #> {_bind(params, list(path))}) = {_bind(params, kind)}"
        picked = f"(CASE WHEN {typed} THEN ({doc} #>> {_bind(params, list(path))}){cast} END)"
        return f"COALESCE({picked} {op} {_bind(params, value)}, FALSE)"
    json_path = "$." + ".".join(path)  # names are letters, digits and _ only (the tokenizer's rule)
    kinds = "('integer', 'real')" if is_number else "('text')"
    typed = f"json_type({_SQLITE_DOC}, {_bind(params, json_path)}) IN {kinds}"
    picked = f"(CASE WHEN {typed} THEN json_extract({_SQLITE_DOC}, {_bind(params, json_path)}) END)"
    return f"COALESCE({picked} {op} {_bind(params, _sqlite_number(value) if is_number else value)}, 0)"


def _sqlite_number(value: Literal) -> int | float:
    assert isinstance(value, Decimal)
    if value == value.to_integral_value() and abs(value) < 2**63:
        return int(value)
    return float(value)
