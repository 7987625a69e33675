"""`steerbench organism build`: train (or find) a refusal organism's LoRA adapter."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("organism", help="build the refusal model organism (LoRA adapter)")
    commands = parser.add_subparsers(dest="organism_command", required=True)
    build = commands.add_parser("build", help="train the organism's adapter, or report the committed/cached one")
    build.add_argument("--base", default="smollm2-135m", help="base model alias (default smollm2-135m)")
    build.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    build.add_argument("--seed", type=int, default=None, help="seed of data, LoRA init and batch order (default 0)")
    build.add_argument("--force", action="store_true", help="train again even when a valid adapter exists")
    build.add_argument("--export", type=Path, default=None, help="copy adapter.safetensors + recipe.json here")
    build.add_argument("--json", action="store_true", help="print the recipe record as JSON")
    build.set_defaults(func=_build)


def recipe_for_base(base: str):
    """The registered recipe whose base is ``base``, or the default recipe moved onto that base."""
    import dataclasses

    from steerbench.organism import ORGANISMS, OrganismRecipe

    for recipe in ORGANISMS.values():
        if recipe.base == base:
            return recipe
    return dataclasses.replace(OrganismRecipe(), name=f"{base}-refusal", base=base)


def _build(args: argparse.Namespace) -> int:
    from steerbench.organism import build_organism
    from steerbench.progress import report

    recipe = recipe_for_base(args.base).with_overrides(steps=args.steps, seed=args.seed)
    organism = build_organism(recipe, progress=report, force=args.force)
    if args.export is not None:
        from steerbench.errors import ConfigError

        if args.export.exists() and not args.export.is_dir():
            raise ConfigError(f"--export {args.export}: is a file; give a directory")
        args.export.mkdir(parents=True, exist_ok=True)
        for source in (organism.adapter_path, organism.adapter_path.with_name("recipe.json")):
            shutil.copyfile(source, args.export / source.name)
        from steerbench.organism.figure import plot_losses

        plot_losses(organism.record, args.export / "loss.png")
    record = organism.record
    if args.json:
        json.dump(record, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    seconds = record.get("seconds", {})
    print(f"organism {record['recipe']['name']}  adapter sha256 {record['adapter_sha256']}")
    print(f"  recipe key {record['key']}  base {record['recipe']['base']}  steps {record['recipe']['train']['steps']}"
          f"  final loss {record['losses'][-1]:.3f}")
    print(f"  adapter {organism.adapter_path}  (distill {seconds.get('distill', '?')} s, train {seconds.get('train', '?')} s)")
    return 0
