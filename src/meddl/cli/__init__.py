"""The one front door: parses arguments, calls the Python API (`meddl.api`), prints. No logic the API lacks.

One module per verb (`meddl.cli.train`, `meddl.cli.evaluate`, ...), each adding its sub-command with `register`.
Heavy libraries (torch, lightning, monai) are imported only by the command that needs them, so `meddl --help` and
`meddl datasets` answer at once. A user error prints one line (`meddl: error: ...`); `--debug` shows the traceback.
A warning meddl raises prints one line too (`meddl: warning: ...`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from meddl import __version__
from meddl.cli import data, deid, evaluate, explain, export, gan, generate, listing, predict, selfcheck, serve, train

VERBS = (listing, train, evaluate, predict, generate, explain, export, serve, selfcheck, data, deid, gan)
# the commands that open model files: each takes --trust
OPENS_MODELS = ("train", "evaluate", "predict", "generate", "explain", "export", "serve", "gan train", "gan sample",
                "gan evaluate")
TRUST_HELP = ("open model files that hold more than plain data (old or foreign checkpoints): such a file can run "
              "code when opened, so only for files from a source you trust")
# the commands with long work: each takes --quiet (no progress bars or per-epoch lines)
QUIET = ("train", "evaluate", "explain", "deid", "gan train", "gan evaluate")
QUIET_HELP = "no progress bars or per-epoch lines: warnings, errors and the final summary only"


def describe_os_error(error: OSError) -> str:
    """One line for an operating-system error: which file, and what the system said (a full disk by that name)."""
    import errno

    where = f"cannot write {error.filename}" if error.filename else "a file operation failed"
    reason = {errno.ENOSPC: "no space left on the device (disk full)", errno.EROFS: "the file system is read-only",
              errno.EACCES: "permission denied", errno.EDQUOT: "disk quota exceeded"}.get(error.errno)
    return f"{where}: {reason or error.strerror or error}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meddl", description="Medical deep learning: data to trained, evaluated model.")
    parser.add_argument("--version", action="version", version=f"meddl {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in VERBS:
        verb.register(commands)
    for name in OPENS_MODELS:
        _subcommand(commands, name).add_argument("--trust", action="store_true", help=TRUST_HELP)
    for name in QUIET:
        _subcommand(commands, name).add_argument("--quiet", "-q", action="store_true", help=QUIET_HELP)
    return parser


def _subcommand(commands: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    """The parser of sub-command `name` ("train", or "gan train" for a nested one)."""
    command = commands
    for word in name.split():
        command = next(a for a in command._actions if isinstance(a, argparse._SubParsersAction)) \
            if not hasattr(command, "choices") else command
        command = command.choices[word]
    return command


def _one_line_warnings(shown_before):
    """A `warnings.showwarning` that prints meddl's own warnings as one line, `meddl: warning: ...`, and passes
    other libraries' to `shown_before`."""
    package = Path(__file__).resolve().parents[1]

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, UserWarning) and Path(filename).resolve().is_relative_to(package):
            print(f"meddl: warning: {message}", file=sys.stderr)
        else:
            shown_before(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    from meddl.errors import MeddlError

    try:
        with warnings.catch_warnings():  # restores the filters and the display when a command returns
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            if getattr(args, "trust", False):
                from meddl.api import trusting_files

                with trusting_files():
                    status = args.run(args)
            else:
                status = args.run(args)
    except MeddlError as error:
        if args.debug:
            raise
        print(f"meddl: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("meddl: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # the machine, not meddl: a read-only folder, a full disk, a missing permission
        if args.debug:
            raise
        print(f"meddl: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # the last line of defence: one line, not a crash dump
        if args.debug:
            raise
        print(f"meddl: unexpected error: {type(error).__name__}: {error} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    return status or 0
