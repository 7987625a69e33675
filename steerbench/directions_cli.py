"""`steerbench direction build`: build (or fetch from the cache) one direction and print its stats."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from steerbench.model import DEFAULT_MODEL


def register(subparsers) -> None:
    direction = subparsers.add_parser("direction", help="build and inspect steering directions")
    commands = direction.add_subparsers(dest="direction_command", required=True)
    build = commands.add_parser("build", help="build one direction, save it to the cache and print its stats")
    build.add_argument("--layer", required=True, help="block index, negative index or depth fraction (e.g. 15, -1, 0.5)")
    build.add_argument("--model", default=DEFAULT_MODEL, help="alias, hub id or checkpoint directory")
    build.add_argument("--method", default="contrastive_prefix",
                       help="contrastive_prefix | diff_in_means | outcome_conditioned")
    build.add_argument("--position", default="prefix_mean", help="prefix_mean | prefix_first | prefix_last")
    build.add_argument("--hook-point", default="resid_post", help="resid_post | resid_pre")
    build.add_argument("--n-prompts", default=None,
                       help="prompts of harm_train's direction-building half to use (default: all of it)")
    build.add_argument("--device", default=None)
    build.add_argument("--cache-dir", default=None, help="the study cache (default: $STEERBENCH_CACHE or .steerbench_cache)")
    build.add_argument("--json", action="store_true", help="print the direction's metadata as JSON")
    build.set_defaults(func=run_build)
    select = commands.add_parser(
        "select", help="Arditi-style search: every layer x post-instruction position, scored by bypass / induce / KL")
    select.add_argument("--model", default=DEFAULT_MODEL, help="alias, hub id or checkpoint directory")
    select.add_argument("--device", default=None)
    select.add_argument("--out", default=None, help="also copy the candidate scores and heatmaps into this directory")
    select.add_argument("--json", action="store_true", help="print the selection record as JSON")
    select.add_argument("--commit", action="store_true",
                        help="write the selection into ./data/selections/<key>/ (replacing this model's earlier one), "
                             "where studies on any machine find it instead of searching again")
    select.set_defaults(func=run_select)


def run_build(args) -> int:
    from steerbench.config import DirectionConfig, StudyConfig
    from steerbench.directions import check_method
    from steerbench.errors import ConfigError
    from steerbench.model import load_model, resolve_layer, resolve_source
    from steerbench.pipeline import open_study

    check_method(args.method, args.position, args.hook_point)
    try:
        layer_arg = float(args.layer) if any(c in args.layer for c in ".e") else int(args.layer)
    except ValueError:
        raise ConfigError(f"--layer {args.layer}: give a block index (15), a negative index (-1) "
                          "or a depth fraction in [0, 1) (0.5)") from None
    from steerbench.config import default_cache_dir

    args.cache_dir = args.cache_dir or default_cache_dir()
    if Path(args.cache_dir).exists() and not Path(args.cache_dir).is_dir():
        raise ConfigError(f"--cache-dir {args.cache_dir}: a file, not a directory; name a directory")
    resolve_source(args.model)  # fail fast, in one line, before anything heavy
    try:
        n_prompts = None if args.n_prompts in (None, "all") else int(args.n_prompts)
    except ValueError:
        n_prompts = 0
    if n_prompts is not None and n_prompts < 1:
        raise ConfigError(f"--n-prompts {args.n_prompts}: give a positive number or 'all'")
    config = StudyConfig(
        model=args.model, device=args.device, layers=(layer_arg,), cache_dir=args.cache_dir,
        direction=DirectionConfig(method=args.method, position=args.position, hook_point=args.hook_point,
                                  n_build_prompts=n_prompts, layer=None),
    )
    model = load_model(args.model, device=args.device)
    layer = resolve_layer(layer_arg, model.n_layers)
    study = open_study(config, rootdir=Path.cwd(), model=model, progress=print)
    direction = study.direction(layer)
    meta = {k: v for k, v in dataclasses.asdict(direction).items() if k != "unit"}
    if args.json:
        print(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return 0
    s = direction.stats
    print(f"direction {direction.method}/{direction.position} at layer {layer} ({direction.hook_point}) of {model.name}")
    print(f"  natural scale (norm of mean contrast)  {direction.scale:.3f}")
    print(f"  prompts                               {s.n_prompts}")
    print(f"  mean per-prompt contrast norm         {s.mean_prompt_norm:.3f}")
    print(f"  split-half cosine                     {s.split_half_cosine:.4f}")
    print(f"  cosine across batches                 {s.batch_cosine:.4f}")
    print(f"  degenerate                            {s.degenerate}")
    print(f"  cached under {study.cache_root / 'directions'}")
    return 0


def commit_selection(selection, directory: Path) -> Path:
    """Copy a selection's entry into ``directory/<key>/``; other entries of the same model are removed (a changed
    detector or prompt set makes them unreachable: their key is no run's any more)."""
    import shutil

    from steerbench.selection import copy_entry

    target = directory / selection.root.name
    for old in directory.glob("*/selection.json"):
        if old.parent != target and json.loads(old.read_text())["model"] == selection.record["model"]:
            shutil.rmtree(old.parent)
    copy_entry(selection.root, target)
    return target


def run_select(args) -> int:
    import shutil

    from steerbench.config import DirectionConfig, StudyConfig
    from steerbench.model import load_model, resolve_source
    from steerbench.pipeline import open_study
    from steerbench.report.direction_figures import save_selection_figure

    resolve_source(args.model)  # fail fast, in one line, before anything heavy
    config = StudyConfig(model=args.model, device=args.device, direction=DirectionConfig(method="diff_in_means"))
    model = load_model(args.model, device=args.device)
    study = open_study(config, rootdir=Path.cwd(), model=model, progress=print)
    selection = study.selection()
    figure = save_selection_figure(selection)
    if args.commit:
        print(f"  committed as {commit_selection(selection, Path.cwd() / 'data' / 'selections')}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for path in (selection.candidates_path, selection.root / "selection.json", figure):
            shutil.copyfile(path, out / path.name)
    if args.json:
        print(json.dumps(selection.record, indent=2, sort_keys=True, default=str))
        return 0
    r, chosen = selection.record, selection.record["selected"]
    print(f"selected diff-in-means direction of {model.name}: layer {selection.layer}, position {selection.position} "
          f"({selection.token!r}), resid_pre")
    print(f"  bypass score (harmful, ablated)   {chosen['bypass_score']:+.3f}   baseline {r['baseline_harmful_score']:+.3f}")
    print(f"  induce score (harmless, added)    {chosen['induce_score']:+.3f}   baseline {r['baseline_harmless_score']:+.3f}")
    print(f"  KL on harmless under ablation     {chosen['kl']:.4f}   (threshold {r['config']['kl_threshold']})")
    print(f"  natural scale (mean-diff norm)    {chosen['scale']:.3f}")
    print(f"  prompts: {r['n_harmful_train']} harmful / {r['n_harmless_train']} harmless build, "
          f"{r['n_harmful_val']} / {r['n_harmless_val']} validation "
          f"(kept {r['n_harmful_refused']} of {r['n_harmful_build']} refused, {r['n_harmless_answered']} of "
          f"{r['n_harmless_build']} answered)")
    discarded = ", ".join(f"{k} {v}" for k, v in r["discard_counts"].items() if v)
    print(f"  candidates: {r['n_layers'] * len(r['positions'])} ({discarded or 'none'} discarded)")
    print(f"  scores {selection.candidates_path}")
    print(f"  heatmaps {figure}")
    return 0
