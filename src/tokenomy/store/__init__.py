"""The call store: schema, migrations, writing and reading call records."""

from tokenomy.store.database import DatabaseError, open_engine
from tokenomy.store.writer import BatchWriter, WriterStats, write_records

__all__ = ["BatchWriter", "DatabaseError", "WriterStats", "open_engine", "write_records"]
