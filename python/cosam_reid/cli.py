"""The `cosam-reid` command: a dispatcher over the subcommands of
cosam_reid.commands."""
import argparse
import sys

from .commands import add_commands


def build_parser():
    parser = argparse.ArgumentParser(prog="cosam-reid", description="Video person re-ID with COSAM.")
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, KeyError, OSError) as error:
        # Bad input (config, files, shapes) ends with its message, not a traceback.
        # A KeyError's str() is the repr of its message; print the message itself.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"cosam-reid {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
