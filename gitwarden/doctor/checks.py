"""Every check `gitwarden doctor` runs, in the order the report lists them."""

from __future__ import annotations

from gitwarden.doctor import machine, repository
from gitwarden.doctor.findings import Check

ALL_CHECKS: list[Check] = [
    repository.check_config, machine.check_gitwarden_on_path, machine.check_notifications,
    machine.check_watch_limits, machine.check_service_manager, machine.check_service_file,
    repository.check_hooks, repository.check_lock_files, repository.check_state,
    repository.check_socket,
]
