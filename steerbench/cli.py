"""The `steerbench` console script.

Each command group lives next to the code it drives and exposes ``register(subparsers)``;
this module only wires them together, importing each lazily so `steerbench --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from steerbench.errors import SteerbenchError

# command name -> module that defines register(subparsers) and sets args.func
COMMAND_MODULES = {
    "prompts": "steerbench.prompts.cli",
    "direction": "steerbench.directions_cli",
    "bench": "steerbench.bench",
    "report": "steerbench.report.cli",
    "organism": "steerbench.organism.cli",
    "cache": "steerbench.cache_cli",
    "detector": "steerbench.detector_cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steerbench", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SteerbenchError as error:
        print(f"steerbench: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
