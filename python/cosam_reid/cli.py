"""The `cosam-reid` command. Subcommands are modules with HELP,
add_arguments(parser) and run(args), listed in SUBCOMMANDS; a new one is a
new entry there."""
import argparse
import importlib
import sys

#: subcommand -> module implementing it.
SUBCOMMANDS = {
    "train": "cosam_reid.engine.train_command",
    "synth": "cosam_reid.data.synthetic",
    "evaluate": "cosam_reid.engine.evaluate_command",
    "demo": "cosam_reid.demo",
    "visualize": "cosam_reid.visualize.command",
}


def build_parser():
    parser = argparse.ArgumentParser(prog="cosam-reid", description="Video person re-ID with COSAM.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        subparser = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(subparser)
        subparser.set_defaults(run=module.run)
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
