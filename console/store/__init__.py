"""The delivery store: the only place that knows SQL. Table objects never leave this package."""

from console.store.engine import Store, StoreError, describe_url, normalise_url
from console.store.schema import SCHEMA_VERSION, SchemaVersionError, open_store
from console.store.writer import WriteResult, write_batch

__all__ = [
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "WriteResult",
    "describe_url",
    "normalise_url",
    "open_store",
    "write_batch",
]
