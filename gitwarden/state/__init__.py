"""SQLite state in <common git dir>/gitwarden/state.db, one module per kind of record."""
