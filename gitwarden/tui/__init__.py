"""`gitwarden top`: the live terminal view (Textual, the optional `tui` extra)."""
