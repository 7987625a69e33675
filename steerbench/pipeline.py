"""The cached stages of a study: directions per layer, completion rows per (cell, split).

A ``Study`` ties a StudyConfig to a loaded model and its prompt sets. Every expensive result is
stored under ``<cache_dir>/<stage>/<key>`` where the key hashes all inputs (model fingerprint,
prompt-set hash, parameters, code version), written atomically under a file lock: pytest-xdist
workers compute each entry once, reruns reuse it, and an interrupted run keeps what it finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from steerbench.cache import cached, request_key
from steerbench.directions import (
    Direction,
    build_directions,
    load_direction,
    random_direction,
    save_direction,
)
from steerbench.forward import PrefillMemo
from steerbench.interventions import BASELINE, Cell, row_steer
from steerbench.model import resolve_layer
from steerbench.metrics.logodds import COMPLIANCE_OPENERS, REFUSAL_OPENERS
from steerbench.prompts.study import build_record, study_prompts
from steerbench.rows import ROWS_VERSION, completion_rows, conform, score_texts, with_attack_labels
from steerbench.vocab import (  # noqa: F401  (re-exported)
    BASE_CONTROL_ATTACKS, CORE_SPLITS, N_RANDOM_NULL, SLICE_SPLITS, VARIANTS, check,
)

RANDOM_DIRECTION_SEED = 1234
NULL_VARIANTS = tuple(f"random{k}" if k else "random" for k in range(N_RANDOM_NULL))  # the random-direction null
# Bump when the text-only metrics (refusal detector, helpfulness, outcome thresholds) change: cached
# completions are then re-scored (steerbench.rows.score_texts) instead of regenerated. The scored rows'
# cache name also carries a hash of steerbench/metrics/*.py (metrics_fingerprint), so an edit of a phrase
# or threshold that forgets the bump still re-scores instead of serving stale outcomes.
METRICS_VERSION = "8"  # "8": rows carry the tampering labels (rows.ATTACK_COLUMNS)


@functools.lru_cache(maxsize=1)
def metrics_fingerprint() -> str:
    """METRICS_VERSION, a hash of the text-metric source files and of the refusal classifier's and the
    degeneration stage's weights: the scored rows' cache suffix."""
    from steerbench.metrics.classifier import load_classifier, load_degeneration_classifier

    digest = hashlib.sha256(METRICS_VERSION.encode())
    for path in sorted((Path(__file__).resolve().parent / "metrics").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(b"classifier\0" + load_classifier().fingerprint.encode())
    digest.update(b"degeneration\0" + load_degeneration_classifier().fingerprint.encode())
    return f"{METRICS_VERSION}-{digest.hexdigest()[:10]}"


@dataclass(frozen=True)
class DirectionRequest:
    """Every input of one layer's direction (its cache key is these fields, so none can be left out)."""

    model: str  # fingerprint
    layer: int
    method: str
    position: str
    hook_point: str
    refusal_prefix: str
    compliance_prefix: str
    prompts: str  # content hash of the direction-building harm_train prompts
    benign: str | None  # content hash of the building benign prompts (diff_in_means)


@dataclass(frozen=True)
class RowsRequest:
    """Every input of one (cell, split) generation."""

    model: str
    prompts: str
    split: str
    cell: dict
    variant: str
    seed: int
    alpha_units: str
    direction: tuple | None  # provenance, scale, method, layer, hook point, unit-vector hash
    generation: dict
    prefixes: tuple[str, str]  # the diagnostic prefix score's strings
    openers: tuple  # the propensity's held-out openers
    rows_version: str


@dataclass(frozen=True)
class PersistenceRequest:
    """Every input of one checkpoint's direction-persistence record."""

    model: str  # the untampered model's fingerprint
    adapter: str  # the checkpoint's adapter digest ("" for step 0)
    selection: str  # the selection's key (r0, its layer and position)
    build: tuple[str, str]  # content hashes of the building harmful / harmless prompts
    held_out: tuple[str, str]  # content hashes of the AUROC's harm_test / benign prompts


@dataclass(frozen=True)
class IdentityRequest:
    """Every input of an alpha = 0 generation through the hooks (the identity sanity check)."""

    model: str
    prompts: str
    cell: str
    seed: int
    generation: dict
    direction: str  # unit-vector hash


def _noop(message: str) -> None:
    return None


def resolved_layers(config, n_layers: int, auto_layer: int | None = None) -> tuple[int, ...]:
    """The config's layers (indices, negative indices, depth fractions) as sorted block indices.

    With ``direction.layer: auto`` the grid has one layer, the selected one (``auto_layer``, from
    ``Study.selection()`` or ``steerbench.selection.load_selection``).
    """
    if config.direction.layer == "auto":
        if auto_layer is None:
            raise ValueError("direction.layer is auto: pass the selected layer (steerbench.selection)")
        return (resolve_layer(auto_layer, n_layers),)
    return tuple(sorted({resolve_layer(layer, n_layers) for layer in config.layers}))


def grid(config, n_layers: int, auto_layer: int | None = None) -> list[Cell]:
    """The layer x intervention x alpha grid, sorted: every xdist worker sees the same list."""
    return sorted(
        Cell(layer, intervention, float(alpha))
        for layer in resolved_layers(config, n_layers, auto_layer)
        for intervention in sorted(config.interventions)
        for alpha in sorted(config.alphas)
    )


@dataclass(eq=False)
class Study:
    """A configured study on a loaded model: the grid, the prompt sets and the on-disk cache."""

    config: object  # steerbench.config.StudyConfig
    model: object  # steerbench.model.SteerModel
    splits: dict  # split name -> the PromptSet the evals score (already limited to n_prompts)
    cache_root: Path
    progress: Callable[[str], None] = _noop
    memo: PrefillMemo = dataclasses.field(default_factory=PrefillMemo)  # unsteered prompt prefills (fluency)
    # split name -> the prompts that build directions, disjoint from splits[name]
    # (steerbench.prompts.study); "benign" only for methods that read benign prompts
    build_sets: dict = dataclasses.field(default_factory=dict)
    prompt_files: dict = dataclasses.field(default_factory=dict)  # split -> {"path", "sha256"} it was read from
    # where the Arditi selection of this study is stored (set by the eval session's controller, which
    # computes it once before the workers start); None: selection() computes or reads it from the cache
    selection_root: Path | None = None
    _selection: object = dataclasses.field(default=None, repr=False)
    # split name -> the prompts the tampering question evaluates checkpoints on (tampering.n_prompts; the
    # same files and cut as ``splits``, another count); empty: ``splits``
    tamper_splits: dict = dataclasses.field(default_factory=dict)
    # set on the study of an organism's unmodified base that runs its base-control attacks (base_control()):
    # the name of the organism it is the control of; such a study has no direction selection of its own
    control_of: str = ""

    @property
    def auto_layer(self) -> int | None:
        """The selected layer when ``direction.layer`` is auto, else None."""
        return self.selection().layer if self.config.direction.layer == "auto" else None

    @property
    def layers(self) -> tuple[int, ...]:
        return resolved_layers(self.config, self.model.n_layers, self.auto_layer)

    def cells(self) -> list[Cell]:
        return grid(self.config, self.model.n_layers, self.auto_layer)

    def selection(self):
        """The Arditi-style diff-in-means selection on this study's direction-building prompts (cached)."""
        from steerbench.selection import load_selection, select_direction

        if self._selection is None:
            if self.control_of:
                raise ValueError(f"the base-model control of {self.control_of} has no direction selection: "
                                 "persistence and restoration read the refusing model's r0")
            if self.selection_root is not None:
                self._selection = load_selection(Path(self.selection_root))
            else:
                benign = self.direction_prompts("benign")
                if benign is None:
                    raise ValueError("the selection needs the benign direction-building half: use method diff_in_means")
                self._selection = select_direction(self.model, self.direction_prompts("harm_train"), benign,
                                                   self.selection_cache, provenance=build_record(self.build_sets),
                                                   progress=self.progress)
        return self._selection

    @property
    def selection_cache(self) -> Path:
        """Where selections are cached: beside the converted models in the steerbench home. A selection is
        a model-level artefact keyed by every input (like the merged organism), shared by every study
        cache and test run on this machine and verified by its hashes when read; ``--no-cache``
        recomputes the cells, not the model or its selected direction (delete
        ``$STEERBENCH_HOME/selection`` for that)."""
        from steerbench.checkpoints import steerbench_home

        return steerbench_home()

    # ---- directions ------------------------------------------------------------------------
    def direction_prompts(self, split: str):
        """The prompts of ``split`` that build directions (never scored); None for benign when the method reads none."""
        if split == "harm_train" and split not in self.build_sets:
            raise ValueError("this Study has no direction-building prompts: make it with open_study")
        return self.build_sets.get(split)

    def _direction_key(self, layer: int, refusal_prefix: str, compliance_prefix: str) -> str:
        d = self.config.direction
        benign = self.direction_prompts("benign")
        return request_key(DirectionRequest(
            model=self.model.fingerprint, layer=layer, method=d.method, position=d.position, hook_point=d.hook_point,
            refusal_prefix=refusal_prefix, compliance_prefix=compliance_prefix,
            prompts=self.direction_prompts("harm_train").content_hash(),
            benign=None if benign is None else benign.content_hash()))

    def direction(self, layer: int, variant: str = "main") -> Direction:
        """The steering direction at ``layer``: main prefixes, alternative prefixes, or random control."""
        d = self.config.direction
        check(variant, VARIANTS, "direction variant")  # an unknown one must not silently mean alt_prefix
        if variant.startswith("random"):  # draw k of the null: "random" is draw 0 (the sanity check's)
            draw = int(variant[len("random"):] or 0)
            return random_direction(self.direction(layer, "main"), RANDOM_DIRECTION_SEED + layer + 1000 * draw)
        if variant == "unrelated":
            return self._unrelated_direction(layer)
        if d.method != "contrastive_prefix" and variant == "alt_prefix":
            raise ValueError(f"direction method {d.method} reads no prefixes: it has no alt_prefix variant")
        if d.layer == "auto" and layer == self.auto_layer:
            return self.selection().direction
        prefixes = (d.refusal_prefix, d.compliance_prefix) if variant == "main" else (d.alt_refusal_prefix, d.alt_compliance_prefix)
        stem = lambda lay: self.cache_root / "directions" / self._direction_key(lay, *prefixes)  # noqa: E731

        def build(_):  # every layer at once (one pass over the prompts); each file is written atomically
            self.progress(f"building {variant} directions at layers {list(self.layers)}")
            build_set, benign = self.direction_prompts("harm_train"), self.direction_prompts("benign")
            outcome_kwargs = self._outcome_inputs(build_set) if d.method == "outcome_conditioned" else {}
            built = build_directions(
                self.model, build_set.texts(), list(self.layers), method=d.method, position=d.position,
                hook_point=d.hook_point, refusal_prefix=prefixes[0], compliance_prefix=prefixes[1],
                benign_prompts=benign.texts() if benign is not None and d.method == "diff_in_means" else (),
                provenance={**build_record(self.build_sets), "variant": variant}, **outcome_kwargs,
            )
            for lay, direction in built.items():
                save_direction(direction, stem(lay))

        cached(stem(layer), build, done=stem(layer).with_suffix(".json"),
               lock=self.cache_root / "directions" / f"build-{variant}")
        return load_direction(stem(layer))

    def _unrelated_direction(self, layer: int) -> Direction:
        """The unrelated-contrast control at ``layer``, norm-matched to the main direction (cached)."""
        from steerbench.diagnostics import SPORT, WEATHER, unrelated_direction

        main = self.direction(layer, "main")
        build_set = self.direction_prompts("harm_train")
        stem = self.cache_root / "directions" / request_key(DirectionRequest(
            model=self.model.fingerprint, layer=layer, method="unrelated_contrast", position="prefix_mean",
            hook_point=main.hook_point, refusal_prefix="|".join(WEATHER), compliance_prefix="|".join(SPORT),
            prompts=build_set.content_hash(), benign=f"{main.scale:.9g}"))

        def build(_):
            self.progress(f"building the unrelated-contrast control at layer {layer}")
            save_direction(unrelated_direction(self.model, build_set.texts(), layer, main.hook_point, main.scale), stem)

        cached(stem, build, done=stem.with_suffix(".json"), lock=stem.with_name(stem.name + "-build"))
        return load_direction(stem)

    def _outcome_inputs(self, build_set) -> dict:
        # the build part's own baseline completions, cached like any rows (keyed by its prompts), never scored
        builder = dataclasses.replace(self, splits={**self.splits, "harm_train": build_set})
        frame = builder.rows(BASELINE, "harm_train")
        by_id = frame.set_index("prompt_id")
        ids = [p.id for p in build_set if p.id in by_id.index]
        return {"completions": [by_id.loc[i, "completion"] for i in ids],
                "refused": [bool(by_id.loc[i, "refused"]) for i in ids]}

    # ---- completion rows ---------------------------------------------------------------------
    def rows_path(self, cell: Cell, split: str, *, variant: str = "main", seed: int | None = None, subset: int | None = None,
                  standalone: bool = False) -> Path:
        """The parquet file of per-completion rows for one (cell, split), computing it if needed.

        ``subset``: the split's first ``subset`` prompts. A grid cell's subset is filtered from the whole split's
        rows (the grid generates them anyway), unless ``standalone``: then the subset is generated as its own
        entry, so a question that needs only a few prompts (the sanity checks) never waits for the whole split,
        and gets the same rows whether or not the grid ran first.
        """
        seed = self.config.seed if seed is None else seed
        prompt_set = self.splits[split].limit(subset)
        if cell.intervention != "baseline" and cell.alpha == 0.0:
            # alpha = 0 is the identity (tests/test_interventions.py, sanity evals): its rows are the
            # baseline's, relabelled; this saves one generation per layer and intervention.
            return self._relabelled_baseline(cell, split, seed, subset, standalone)
        if subset is not None and subset < len(self.splits[split]) and variant == "main" and seed == self.config.seed \
                and not standalone and (cell == BASELINE or cell in self.cells()):
            # the grid generates the whole split anyway; completions do not depend on the batch
            # (common random numbers), so the subset's rows are those rows, filtered
            return self._subset_of_split(cell, split, prompt_set)
        direction = None if cell.intervention == "baseline" else self.direction(cell.layer, variant)
        gen = self.config.generation
        key = request_key(RowsRequest(
            model=self.model.fingerprint, prompts=prompt_set.content_hash(), split=split,
            cell=dataclasses.asdict(cell), variant=variant, seed=seed, alpha_units=self.config.alpha_units,
            direction=None if direction is None else (
                direction.provenance, direction.scale, direction.method, direction.layer, direction.hook_point,
                _unit_hash(direction)),
            generation=dataclasses.asdict(gen),
            prefixes=(self.config.direction.refusal_prefix, self.config.direction.compliance_prefix),
            openers=(REFUSAL_OPENERS, COMPLIANCE_OPENERS), rows_version=ROWS_VERSION))
        generated = self.cache_root / "rows" / f"{key}.parquet"

        def generate_rows(tmp: Path) -> None:
            baseline = None if cell.intervention == "baseline" else self.rows(
                BASELINE, split, seed=seed, subset=subset, standalone=standalone)
            steer = None if direction is None else row_steer(
                cell, direction.unit, direction.scale, direction.hook_point, self.config.alpha_units)
            began = time.perf_counter()
            frame = completion_rows(
                self.model, prompt_set, split, cell, steer, seed=seed, generation=gen,
                refusal_prefix=self.config.direction.refusal_prefix,
                compliance_prefix=self.config.direction.compliance_prefix,
                baseline=baseline, variant=variant, memo=self.memo,
                direction_scale=math.nan if direction is None else float(direction.scale),
            )
            tokens = int(frame["n_tokens"].sum())
            self.progress(f"{self._position(cell)} {split} {cell.id}{'' if variant == 'main' else ' (' + variant + ')'} "
                          f"seed {seed}: {len(frame)} completions, {tokens / max(time.perf_counter() - began, 1e-9):.0f} tok/s")
            frame.to_parquet(tmp, index=False)

        def rescore(tmp: Path) -> None:  # text-only metrics of the cached generation (METRICS_VERSION)
            import pandas as pd

            conform(with_attack_labels(score_texts(pd.read_parquet(cached(generated, generate_rows))))).to_parquet(
                tmp, index=False)

        return cached(generated.with_name(f"{key}-m{metrics_fingerprint()}.parquet"), rescore)

    def _position(self, cell: Cell) -> str:
        """"cell i/N" of the grid (the baseline is cell 0, named without resolving the grid: a tampering
        run needs no direction selection)."""
        if cell == BASELINE:
            return "cell 0"
        cells = self.cells()
        return f"cell {cells.index(cell) + 1 if cell in cells else 0}/{len(cells)}"

    def _relabelled_baseline(self, cell: Cell, split: str, seed: int, subset: int | None, standalone: bool) -> Path:
        source = self.rows_path(BASELINE, split, seed=seed, subset=subset, standalone=standalone)
        scale = float(self.direction(cell.layer).scale)
        return _derived(source, f"{cell.id}-s{scale:.6g}", lambda frame: frame.assign(
            layer=cell.layer, intervention=cell.intervention, alpha=cell.alpha, cell=cell.id, drift=0.0,
            direction_scale=scale, added_norm=0.0))

    def _subset_of_split(self, cell: Cell, split: str, prompt_set) -> Path:
        ids = {p.id for p in prompt_set}
        return _derived(self.rows_path(cell, split), f"subset{len(prompt_set)}",
                        lambda frame: frame[frame["prompt_id"].isin(ids)].reset_index(drop=True))

    def identity_completions(self, cell: Cell, split: str, *, subset: int | None = None) -> dict[str, str]:
        """prompt id -> completion of an alpha = 0 cell generated for real, hooks installed at zero strength.

        The grid relabels the baseline for alpha = 0 (``rows_path``); this is the independent check of
        that shortcut, cached like every other generation under a key of all its inputs.
        """
        import json

        from steerbench.generation import GenRequest, SamplingConfig, generate

        if cell.alpha != 0.0 or cell.intervention == "baseline":
            raise ValueError(f"identity_completions takes an alpha = 0 steering cell, not {cell.id}")
        prompt_set = self.splits[split].limit(subset)
        direction = self.direction(cell.layer)
        gen = self.config.generation
        steer = dataclasses.replace(row_steer(cell, direction.unit, direction.scale, direction.hook_point), force=True)
        path = self.cache_root / "identity" / (request_key(IdentityRequest(
            model=self.model.fingerprint, prompts=prompt_set.content_hash(), cell=cell.id, seed=self.config.seed,
            generation=dataclasses.asdict(gen), direction=_unit_hash(direction))) + ".json")

        def generate_identity(tmp: Path) -> None:
            sampling = SamplingConfig(gen.max_new_tokens, gen.temperature, gen.top_p, self.config.seed)
            generations = generate(self.model, [GenRequest(p.id, p.prompt, 0, steer) for p in prompt_set],
                                   sampling, batch_size=gen.batch_size)
            tmp.write_text(json.dumps({g.prompt_id: g.text for g in generations}, sort_keys=True))

        return json.loads(cached(path, generate_identity).read_text())

    # ---- tampering -----------------------------------------------------------------------------
    def attack_recipe(self, attack: str, seed: int):
        """The configured attack (``tampering`` settings) with attack seed ``seed``."""
        from steerbench.tampering import AttackRecipe

        t = self.config.tampering
        return AttackRecipe(attack, steps=tuple(t.steps), seed=seed, rank=t.rank, lora_alpha=2 * t.rank, lr=t.lr,
                            batch_size=t.batch_size)

    def base_control(self) -> "Study":
        """This study on the model's unmodified base (the organism without its refusal adapter), which the
        base-control attacks (vocab.BASE_CONTROL_ATTACKS) train and evaluate: same prompts, seeds, generation
        and cache; the base model is loaded once per process.

        Raises:
            ValueError: the model has no separate unmodified base (it is not an organism).
        """
        from steerbench.tampering.attack import load_unmodified_base, unmodified_base

        if self.control_of:
            return self
        base = unmodified_base(self.model.name)
        if base == self.model.name:
            raise ValueError(f"{self.model.name} has no refusal adapter: its base-model control would be the attack "
                             "itself (run it on an organism, e.g. --model smollm2-135m-refusal)")
        return dataclasses.replace(self, model=load_unmodified_base(base, self.model.device, self.config.dtype),
                                   memo=PrefillMemo(), selection_root=None, _selection=None, control_of=self.model.name)

    def _runs_on(self, attack: str) -> "Study":
        """The study an attack runs on: the base control for a base-control attack, else this one."""
        return self.base_control() if attack in BASE_CONTROL_ATTACKS and not self.control_of else self

    def attack_run(self, attack: str, seed: int):
        """The attack's training run against this study's model (trained once, cached; every grid step)."""
        from steerbench.tampering import run_attack

        runner = self._runs_on(attack)
        if runner is not self:
            return runner.attack_run(attack, seed)
        return run_attack(self.model, self.attack_recipe(attack, seed), self.cache_root, progress=self.progress)

    def _tampering_scope(self) -> "Study":
        """This study with the tampering question's prompt sets (``tamper_splits`` over ``splits``)."""
        return dataclasses.replace(self, splits={**self.splits, **self.tamper_splits}) if self.tamper_splits else self

    @contextlib.contextmanager
    def attacked_view(self, attack: str, steps: int, seed: int):
        """This study on the model after ``steps`` steps of ``attack`` (attack seed ``seed``): the weights
        are merged in place for the body's duration (steerbench.tampering.apply), the prompt sets are the
        tampering question's, and the direction selection is the untampered model's (r0)."""
        from steerbench.tampering import attacked

        run = self.attack_run(attack, seed)
        if self.config.direction.layer == "auto" and not self.control_of:
            self.selection()  # r0 and its layer are read from the untampered model, before the weights change
        scope = self._tampering_scope()
        with attacked(self.model, run.adapter(steps), rank=run.recipe.rank, lora_alpha=run.recipe.lora_alpha,
                      digest=run.digest(steps)) as model:
            yield dataclasses.replace(scope, model=model, memo=PrefillMemo())

    def attack_rows_path(self, attack: str, steps: int, seed: int, split: str, cell: Cell = BASELINE) -> Path:
        """Rows of ``split`` on the model after ``steps`` steps of ``attack`` (attack seed ``seed``), under
        ``cell`` (the baseline; an ``add`` cell of the untampered direction r0 restores refusal), labelled
        with the attack and with each completion's drift from the untampered model's baseline completion of
        the same prompt (common random numbers pair them). Step 0 is the untampered model itself."""
        from steerbench.rows import drift_from_baseline

        runner = self._runs_on(attack)
        if runner is not self:  # a base-control attack: the unmodified base, its own step 0
            return runner.attack_rows_path(attack, steps, seed, split, cell)
        untampered = self._tampering_scope().rows_path(BASELINE, split)
        if steps == 0 and cell == BASELINE:  # the untampered model: no training run needed (xdist workers
            source = untampered  # would otherwise all wait for the first attack's run)
        else:
            with self.attacked_view(attack, steps, seed) as view:
                source = view.rows_path(cell, split)
        import pandas as pd

        reference = pd.read_parquet(untampered)
        tag = hashlib.sha256(untampered.name.encode()).hexdigest()[:8]
        return _derived(source, f"attack-{attack}-t{steps}-s{seed}-{tag}", lambda frame: with_attack_labels(
            frame.assign(drift=drift_from_baseline(frame, reference)), attack, steps, seed))

    def attack_direction_path(self, attack: str, steps: int, seed: int) -> Path:
        """Direction persistence at one checkpoint (a cached JSON file): per layer, the cosine between the attacked
        and the untampered model's diff-in-means directions at the selected position (the building prompts),
        and the AUROC with which the untampered selected direction r0 still separates held-out harm_test
        refuse prompts from benign ones in the attacked model's residual stream."""
        import json

        from steerbench.diagnostics import projections
        from steerbench.tampering.persistence import layer_cosines, mean_differences

        if attack in BASE_CONTROL_ATTACKS:
            raise ValueError(f"{attack} trains the unmodified base: persistence compares the refusing model's directions")
        selection = self.selection()
        harmful_build, harmless_build = self.direction_prompts("harm_train").texts(), self.direction_prompts("benign").texts()
        held_out = self._tampering_scope().splits
        harmful = [p.prompt for p in held_out["harm_test"] if p.meta.expected_behavior == "refuse"]
        harmless = held_out["benign"].texts()
        run = self.attack_run(attack, seed)
        path = self.cache_root / "tampering" / "directions" / (request_key(PersistenceRequest(
            model=self.model.fingerprint, adapter=run.digest(steps), selection=selection.root.name,
            build=(self.direction_prompts("harm_train").content_hash(), self.direction_prompts("benign").content_hash()),
            held_out=(held_out["harm_test"].content_hash(), held_out["benign"].content_hash()))) + ".json")

        def compute(tmp: Path) -> None:
            untampered = self._untampered_mean_differences(selection)
            with self.attacked_view(attack, steps, seed) as view:
                now = mean_differences(view.model, harmful_build, harmless_build, selection.position)
                seen = projections(view.model, selection.direction.unit, harmful, harmless, selection.position)
            tmp.write_text(json.dumps({
                "layer": selection.layer, "position": selection.position,
                "cosine": [round(float(c), 6) for c in layer_cosines(now, untampered)],
                "auroc": [round(float(a), 6) for a in seen.auroc],
                "n_harmful": len(harmful), "n_harmless": len(harmless),
                "n_build": [len(harmful_build), len(harmless_build)]}, sort_keys=True))

        return cached(path, compute)

    def _untampered_mean_differences(self, selection):
        """[n_layers, d]: the untampered model's diff-in-means at the selected position over the building prompts,
        computed once per (model, building prompts, position) and shared by every checkpoint's persistence."""
        from safetensors.torch import load_file, save_file

        from steerbench.tampering.persistence import mean_differences

        harmful, harmless = self.direction_prompts("harm_train"), self.direction_prompts("benign")
        path = self.cache_root / "tampering" / "directions" / (request_key(PersistenceRequest(
            model=self.model.fingerprint, adapter="", selection=selection.root.name,
            build=(harmful.content_hash(), harmless.content_hash()), held_out=("", ""))) + ".safetensors")

        def compute(tmp: Path) -> None:
            means = mean_differences(self.model, harmful.texts(), harmless.texts(), selection.position)
            save_file({"mean_differences": means.contiguous()}, str(tmp))

        return load_file(str(cached(path, compute)))["mean_differences"]

    def rows(self, cell: Cell, split: str, **kwargs):
        """The rows of one (cell, split) as a pandas DataFrame."""
        import pandas as pd

        return pd.read_parquet(self.rows_path(cell, split, **kwargs))


def _unit_hash(direction: Direction) -> str:
    """A hash of the direction's unit vector: a flipped or edited direction never reuses results."""
    return hashlib.sha256(direction.unit.numpy().tobytes()).hexdigest()


def _derived(source: Path, suffix: str, transform: Callable) -> Path:
    """``<source stem>-<suffix>.parquet``: rows computed from cached rows by ``transform`` (cached too)."""
    import pandas as pd

    return cached(source.with_name(f"{source.stem}-{suffix}.parquet"),
                  lambda tmp: transform(pd.read_parquet(source)).to_parquet(tmp, index=False))


def open_study(config, *, rootdir: Path, progress: Callable[[str], None] = _noop, model=None,
               run_token: str = "") -> Study:
    """Load the model and prompt sets a StudyConfig names.

    With ``use_cache`` off, results go to a scratch cache shared by this run's workers only
    (``run_token`` identifies the run), so nothing from earlier runs is reused.
    """
    from steerbench.config import resolve_direction, resolve_numerics
    from steerbench.model import load_model

    config = resolve_numerics(resolve_direction(config))  # both idempotent: a StudyConfig made in code gets the keys
    # a loaded one has
    model = model or load_model(config.model, device=config.device, dtype=config.dtype)
    prompts = study_prompts(config, rootdir)
    cache_root = Path(config.cache_dir)
    if not cache_root.is_absolute():
        cache_root = rootdir / cache_root
    if not config.use_cache:
        # --no-cache: compute everything afresh into a per-process scratch area
        cache_root = cache_root / "nocache" / (run_token or f"{time.time_ns()}")
    splits, files = dict(prompts.scored), dict(prompts.files)
    for name, (prompt_set, record) in slice_sets(prompts.files, config.n_prompts).items():
        splits[name], files[name] = prompt_set, record
    tamper_n = config.tampering.n_prompts
    tamper_splits = {} if tamper_n is None or tamper_n == config.n_prompts else dict(
        study_prompts(dataclasses.replace(config, n_prompts=tamper_n), rootdir).scored)
    if config.tampering.eval_path is not None:  # the user's red-team file (--tamper-eval)
        from steerbench.prompts.ingest import read_prompts

        tamper_splits["tamper_eval"] = read_prompts(Path(config.tampering.eval_path), "tamper_eval")
    return Study(config=config, model=model, splits=splits, cache_root=cache_root, progress=progress,
                 build_sets=prompts.build, prompt_files=files, tamper_splits=tamper_splits)


def slice_sets(files: dict, n_prompts: int | None) -> dict:
    """The diagnostic slice splits (perturbations, distill_stress) that sit beside the harm_test file.

    They are made from that harm_test (perturbations name their parent prompt), so they are read
    from its directory only; a user's own prompt directory without them has no slice splits, and
    the slice question skips with that reason. Limited by ``n_prompts`` like the core splits.
    """
    from steerbench.prompts.load import file_sha256, load_prompt_file

    directory = Path(files["harm_test"]["path"]).parent
    found = {}
    for name in SLICE_SPLITS:
        path = directory / f"{name}.jsonl"
        if path.is_file():
            found[name] = (load_prompt_file(path, name=name).limit(n_prompts),
                           {"path": str(path), "sha256": file_sha256(path)})
    return found


def model_facts(model) -> dict:
    """What a cross-model comparison needs of a loaded model: parameter count, width, architecture family,
    how its weights were quantized before steerbench dequantized them, and whether it is an organism."""
    from steerbench.model import MODEL_REGISTRY

    spec = MODEL_REGISTRY.get(model.name)
    note = model.weights_note or (spec.note if spec is not None else "")
    quantization = next((q for q in ("Q4_K_M", "Q4_1", "Q8_0") if q in note), "")
    return {"n_params": int(sum(p.numel() for p in model.hf_model.parameters())), "d_model": model.d_model,
            "family": str(getattr(model.hf_model.config, "model_type", "")),
            "quantization": f"{quantization}-dequantized" if quantization else "none",
            "organism": bool(spec is not None and spec.organism), "dtype": model.dtype}


def describe(study: Study) -> dict:
    """What run.json should say about the study's inputs."""
    return {
        "model": study.model.name, "model_fingerprint": study.model.fingerprint,
        "weights_note": study.model.weights_note, "model_provenance": dict(study.model.extra),
        "n_layers": study.model.n_layers, **model_facts(study.model),
        "layers_resolved": list(study.layers), "device": study.model.device,
        "prompt_sets": {name: {"n": len(s), "hash": s.content_hash(), **study.prompt_files.get(name, {})}
                        for name, s in study.splits.items()},
        "direction_build_prompts": build_record(study.build_sets),
        "cells": [c.id for c in study.cells()],
        "direction_method": study.config.direction.method,
        "direction_selection": None if study.config.direction.layer != "auto" else {
            key: study.selection().record[key] for key in ("selected", "baseline_harmful_score", "baseline_harmless_score",
                                                           "n_harmful_train", "n_harmless_train", "n_harmful_val",
                                                           "n_harmless_val", "discard_counts", "config")}
        | {"key": study.selection().root.name},
    }


