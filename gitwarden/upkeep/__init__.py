"""Upkeep for a daemon that runs for months: retention of the state store, a tidy object
store. Called by the daemon on a schedule and by `gitwarden prune`."""
