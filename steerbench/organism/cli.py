"""`steerbench organism build` trains (or finds) a refusal organism's LoRA adapter; `steerbench organism
measure` measures a model's baseline against the organism's targets."""

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
    measure = commands.add_parser("measure", help="a model's baseline refusal / false refusal / helpfulness vs the targets")
    measure.add_argument("--model", default="smollm2-135m-refusal", help="model alias (default the organism)")
    measure.add_argument("--reference", default="smollm2-135m",
                         help="unmodified model whose benign helpfulness is the reference (default smollm2-135m; '' skips it)")
    measure.add_argument("--max-new-tokens", type=int, default=32, help="tokens per completion (the fast profile's 32)")
    measure.add_argument("--json", action="store_true", help="print the table as JSON")
    measure.set_defaults(func=_measure)


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


def _measure(args: argparse.Namespace) -> int:
    import dataclasses

    from steerbench.model import load_model
    from steerbench.organism.measure import baseline_rows, by_family, measure
    from steerbench.progress import report

    reference = None
    if args.reference:
        report(f"measuring the reference model {args.reference}")
        reference = float(baseline_rows(load_model(args.reference), max_new_tokens=args.max_new_tokens)
                          .query("split == 'benign'")["helpfulness_score"].mean())
    report(f"measuring {args.model} on every prompt of harm_train, harm_test and benign")
    rows = baseline_rows(load_model(args.model), max_new_tokens=args.max_new_tokens)
    table = measure(rows, reference)
    families = by_family(rows)
    if args.json:
        json.dump({"model": args.model, "reference_helpfulness": reference,
                   "measurements": [dataclasses.asdict(m) for m in table],
                   "benign_false_refusal_by_family": {f: dataclasses.asdict(i) for f, i in families.items()}},
                  sys.stdout, indent=1)
        print()
        return 0
    print(f"{args.model}: baseline, T 0.7, top-p 0.9, {args.max_new_tokens} tokens, seed 0 (Wilson 95%)")
    for measurement in table:
        print("  " + measurement.line())
    print("  benign false refusal by family: " + ", ".join(
        f"{family} {i.estimate:.2f} [{i.low:.2f}, {i.high:.2f}] (n {i.n})" for family, i in families.items()))
    return 0
