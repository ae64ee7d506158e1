"""`gitwarden notify --test`: send one notification through every configured channel and say
what happened to each, with the fix for each failure."""

from __future__ import annotations

import argparse
from typing import Any

from gitwarden.commands import add_command
from gitwarden.config import load_config
from gitwarden.daemon.channels import channels_for, deliver_all
from gitwarden.errors import EXIT_FAILURE, EXIT_OK, UsageError
from gitwarden.git.repository import locate_repo
from gitwarden.output import paint, print_json

TEST_TITLE = "gitwarden: test notification"
TEST_BODY = "If you read this, gitwarden can reach you here."


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "notify", "test the notification channels ([notifications] in gitwarden.toml)",
        """\
  gitwarden notify --test           send a test through the desktop and the command channel
  gitwarden notify --test --json    each channel's result, for scripts
""")
    parser.add_argument("--test", action="store_true",
                        help="send one test notification through every configured channel")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.test:
        raise UsageError("nothing to do: `gitwarden notify --test` sends a test notification")
    config = load_config(locate_repo(args.cwd).config_path).notifications
    channels = channels_for(config.command, config.desktop)
    if not channels:
        raise UsageError("no notification channel is configured: set [notifications] "
                         'desktop = true or command = "..." in gitwarden.toml')
    results = deliver_all(channels, TEST_TITLE, TEST_BODY, "warning")
    failed = any(not r.ok for r in results)
    if args.json:
        print_json({"ok": not failed, "channels": [r.as_json() for r in results]})
        return EXIT_FAILURE if failed else EXIT_OK
    for result in results:
        if result.skipped:
            label, color = "skip", "yellow"
        elif result.ok:
            label, color = "ok", "green"
        else:
            label, color = "FAIL", "red"
        line = f"{paint(label.ljust(4), color)}  {result.channel:<8}"
        line += f"  {result.problem}" if result.problem else "  delivered"
        print(line)
    return EXIT_FAILURE if failed else EXIT_OK
