"""The CLI described from its argparse parser: shell completion and the man page. Pure
functions of a parser; nothing here knows gitwarden's commands by name."""
