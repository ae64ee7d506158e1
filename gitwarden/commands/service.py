"""`gitwarden service install|uninstall|status`: run the daemon under systemd or launchd."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitwarden.commands import add_command
from gitwarden.errors import GitwardenError, UsageError
from gitwarden.git.repository import locate_repo
from gitwarden.integrations.service_manager import (
    ServiceManagerUnavailable,
    execute,
    manager_for,
)
from gitwarden.output import paint, print_json

if TYPE_CHECKING:
    from pathlib import Path

    from gitwarden.integrations.service_manager import Plan

RULE = "-" * 72


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "service", "run gitwarden as a systemd user service or a launchd agent",
        """\
  gitwarden service install               install and start the service for this repository
  gitwarden service install --dry-run     print the unit file and commands, change nothing
  gitwarden service install --no-start    only write the unit file
  gitwarden service status                installed? running? last log lines
  gitwarden service uninstall             stop the service and remove its files
""")
    actions = parser.add_subparsers(dest="service_action", metavar="<action>")

    install = add_command(actions, "install", "install the service for a repository and start it",
                          """\
  gitwarden service install
  gitwarden service install --repo ~/src/shop
  gitwarden service install --dry-run
  gitwarden service install --manager launchd --dry-run    see the macOS plist from Linux
""")
    _common(install)
    install.add_argument("--dry-run", action="store_true",
                         help="print the file and the commands without writing or running them")
    install.add_argument("--no-start", action="store_true",
                         help="write the file but do not enable or start the service")
    install.set_defaults(handler=run_install)

    uninstall = add_command(actions, "uninstall", "stop the service and remove its files",
                            """\
  gitwarden service uninstall
  gitwarden service uninstall --repo ~/src/shop --dry-run
""")
    _common(uninstall)
    uninstall.add_argument("--dry-run", action="store_true",
                           help="print what would be removed and run, change nothing")
    uninstall.set_defaults(handler=run_uninstall)

    status = add_command(actions, "status", "is the service installed and running, last log lines",
                         """\
  gitwarden service status
  gitwarden service status --lines 50
  gitwarden service status --json
""")
    _common(status)
    status.add_argument("-n", "--lines", type=int, default=10,
                        help="how many log lines to show (default 10)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=run_status)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", metavar="PATH", default=None,
                        help="the repository (default: the one containing the current directory)")
    parser.add_argument("--manager", choices=("systemd", "launchd"), default=None,
                        help="service manager (default: launchd on macOS, systemd elsewhere)")


def _repository(args: argparse.Namespace) -> Path:


    start = Path(args.repo).expanduser() if args.repo else args.cwd
    if start is not None and args.cwd is not None and not start.is_absolute():
        start = args.cwd / start
    return locate_repo(start).main_worktree.absolute()


def run_install(args: argparse.Namespace) -> int:

    repository = _repository(args)
    manager = manager_for(args.manager)
    plan = manager.plan_install(repository, start=not args.no_start)
    if args.dry_run:
        print(render_dry_run(plan))
        return 0
    execute(plan, manager)
    for service_file in plan.write:
        print(f"wrote {service_file.path}")
    if plan.all_commands():
        print(f"started {plan.service} ({plan.manager}) for {repository}")
    else:
        print(f"not started (--no-start); start it with: "
              f"{_start_hint(plan.manager, plan.service, plan.write[0].path)}")
    for hint in plan.hints:
        print(hint)
    return 0


def run_uninstall(args: argparse.Namespace) -> int:


    repository = _repository(args)
    manager = manager_for(args.manager)
    plan = manager.plan_uninstall(repository)
    if not any(path.exists() for path in plan.remove):
        raise GitwardenError(f"no {plan.manager} service is installed for {repository}")
    if args.dry_run:
        print(render_dry_run(plan))
        return 0
    run_commands = True
    try:
        manager.check_available()
    except ServiceManagerUnavailable as exc:
        print(f"gitwarden: warning: {exc.message}; removing the files only", file=sys.stderr)
        run_commands = False
    execute(plan, manager, run_commands=run_commands)
    for path in plan.remove:
        print(f"removed {path}")
    return 0


def run_status(args: argparse.Namespace) -> int:

    if args.lines < 0:
        raise UsageError("--lines must not be negative")
    repository = _repository(args)
    status = manager_for(args.manager).status(repository, args.lines)
    if args.json:
        print_json(status.as_json())
        return 0
    print(f"service:    {status.service} ({status.manager})")
    print(f"repository: {status.repository}")
    print(f"file:       {status.file} ({'installed' if status.installed else 'not installed'})")
    print(f"enabled:    {_yes_no(status.enabled)}")
    running = _yes_no(status.running)
    if status.running:
        running = paint(running, "green")
    detail = status.state + (f", pid {status.pid}" if status.pid else "")
    print(f"running:    {running} ({detail})")
    if status.problem:
        print(f"problem:    {status.problem}")
    print(f"log ({status.log_source}):")
    for line in status.log_lines or ["(no log lines)"]:
        print(f"  {line}")
    return 0


def render_dry_run(plan: Plan) -> str:
    """What install/uninstall would do; each file's text appears exactly as it would be written."""
    lines = [f"# dry run: nothing is written, removed or run ({plan.manager}, {plan.service})"]
    for command in plan.stop_commands:
        lines.append(f"would run: {command.shell()}")
    for directory in plan.directories:
        lines.append(f"would create directory {directory}")
    for service_file in plan.write:
        # The text between the rules is byte for byte the file (templates end with a newline).
        lines.append(f"would write {service_file.path}:\n{RULE}\n{service_file.content}{RULE}")
    for path in plan.remove:
        lines.append(f"would remove {path}")
    for command in plan.commands:
        lines.append(f"would run: {command.shell()}")
    lines += list(plan.hints)
    return "\n".join(lines)


def _start_hint(manager: str, service: str, path: Path) -> str:

    if manager == "launchd":
        return f"launchctl bootstrap gui/$UID {shlex.quote(str(path))}"
    return ("systemctl --user daemon-reload && "
            f"systemctl --user enable --now {shlex.quote(service)}")


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")
