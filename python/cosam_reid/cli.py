"""The `cosam-reid` command: a dispatcher over the subcommands of
cosam_reid.commands."""
import argparse
import re
import sys

from .commands import add_commands
from .memory import keep_freed_memory

#: The start of the message torch's DataLoader gives an error it re-raises from a worker.
WORKER_ERROR = re.compile(r"Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback")


def build_parser():
    parser = argparse.ArgumentParser(prog="cosam-reid", description="Video person re-ID with COSAM.")
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    try:
        args.run(args)
    except (ValueError, KeyError, OSError) as error:
        # Bad input (config, files, shapes) ends with its message, not a traceback.
        print(f"cosam-reid {args.command}: error: {error_message(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        # Ctrl-C: one line, with what the command says about going on, and the shell's status for SIGINT.
        print(f"cosam-reid {args.command}: interrupted" + (f"; {interrupt}" if interrupt.args else ""),
              file=sys.stderr)
        return 130
    return 0


def error_message(error):
    """The message of a user error. A KeyError's str() is the repr of its
    message: the message itself. An error raised in a DataLoader worker
    comes back with the worker's traceback as its message: the message the
    error had in the worker (its last part)."""
    message = str(error.args[0] if isinstance(error, KeyError) and error.args else error)
    worker = WORKER_ERROR.match(message)
    if worker:
        # The traceback ends with "module.Type: message" (after any chained causes).
        message = re.split(rf"^(?:[\w.]+\.)?{worker.group(1)}: ", message, flags=re.MULTILINE)[-1].strip()
    return message


if __name__ == "__main__":
    sys.exit(main())
