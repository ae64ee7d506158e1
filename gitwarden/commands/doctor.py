"""`gitwarden doctor [--fix] [--json]`: check the set-up, say how to fix each fault, apply
the safe fixes."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.commands import add_command
from gitwarden.doctor.checks import ALL_CHECKS
from gitwarden.doctor.findings import FAIL, OK, WARN, load_setup, run_checks
from gitwarden.errors import EXIT_FAILURE, EXIT_OK
from gitwarden.output import paint, print_json, printable

_COLORS = {OK: "green", WARN: "yellow", FAIL: "red"}


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "doctor", "check the set-up: PATH, notifications, watch limits, service, "
        "hooks, config, lock files, state, socket",
        """\
  gitwarden doctor            ok / warn / fail for each check, with the fix
  gitwarden doctor --fix      also apply the safe fixes (stale lock files, file modes,
                              missing hooks, an outdated service file)
  gitwarden doctor --json     for scripts
""")
    parser.add_argument("--fix", action="store_true", help="apply the safe fixes")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    findings = run_checks(load_setup(args.cwd), ALL_CHECKS, fix=args.fix)
    failed = any(f.status == FAIL for f in findings)
    if args.json:
        print_json({"ok": not failed, "findings": [f.as_json() for f in findings]})
        return EXIT_FAILURE if failed else EXIT_OK
    for finding in findings:
        label = paint(finding.status.ljust(4), _COLORS[finding.status])
        print(f"{label}  {finding.check:<15} {printable(finding.message)}")
        if finding.fixed:
            print(f"{'':21}fixed: {printable(finding.fixed)}")
        if finding.fix and finding.status != OK:
            print(f"{'':21}fix: {printable(finding.fix)}")
    return EXIT_FAILURE if failed else EXIT_OK
