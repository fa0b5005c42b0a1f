"""The call store: schema, migrations, writing and reading call records."""

from tokenomy.store.db import Database, DatabaseError, open_database
from tokenomy.store.writer import BatchWriter, WriterStats, write_records

__all__ = [
    "BatchWriter",
    "Database",
    "DatabaseError",
    "WriterStats",
    "open_database",
    "write_records",
]
