"""`meddl selfcheck`: this installation against bundled reference outputs."""

from __future__ import annotations

import argparse

from meddl.cli.common import Subparsers


def cmd_selfcheck(args: argparse.Namespace) -> int:
    from meddl.api import selfcheck

    text, passed = selfcheck()
    print(text)
    return 0 if passed else 1


def register(commands: Subparsers) -> None:
    commands.add_parser("selfcheck", help="check this installation against bundled reference outputs (seconds)"
                        ).set_defaults(run=cmd_selfcheck)
