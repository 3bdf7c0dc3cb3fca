"""The `cosam-reid` subcommands, one module each.

A command module exposes add_parser(subparsers), which adds its subparser
(named after the command, with its help and options) and sets `run` on it as
the default, and run(args), which calls the library with the parsed options
and returns nothing (a user error is raised as ValueError, KeyError or
OSError, which cosam_reid.cli prints as one line). A new command is a new
module and a new entry in COMMANDS. Options several commands share are
defined once, in commands.options.
"""
import importlib

#: Command modules, in the order `cosam-reid --help` lists them.
COMMANDS = ("train", "evaluate", "synth", "demo", "visualize", "export", "weights", "extract", "benchmark")


def add_commands(subparsers):
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
