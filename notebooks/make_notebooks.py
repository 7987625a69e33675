"""Write notebooks/01_smoke.ipynb, 02_sweep.ipynb and 03_analysis.ipynb from the cell sources below.

The notebooks are generated (no outputs, no hidden state): edit this file and run
``python notebooks/make_notebooks.py``; tests/test_notebooks.py checks that the committed notebooks are
what this script writes and executes 01 and 03. Every cell calls steerbench or its CLI; the first code
cell of each notebook (tagged ``parameters``) holds every setting.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

INSTALL = '''# Install (Colab or a fresh kernel): steerbench from a checkout, exactly as its README says.
import importlib.util
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("steerbench") is None:
    if not REPO_URL:
        raise ImportError("steerbench is not installed in this kernel: set REPO_URL to your steerbench checkout's git URL "
                          "(the cell clones it and runs `bash setup.sh`), or run the README's setup command first")
    subprocess.run(["git", "clone", "--depth", "1", REPO_URL, "steerbench"], check=True)
    subprocess.run(["bash", "steerbench/setup.sh"], check=True)
    sys.path.insert(0, str(Path("steerbench").resolve()))

import steerbench

ROOT = Path(steerbench.__file__).resolve().parents[1]  # the checkout: its pyproject, data/ and evals/
if not (ROOT / "pyproject.toml").is_file():
    ROOT = Path.cwd()
print("steerbench", steerbench.__version__, "from", ROOT)'''

VERSIONS = '''# What this notebook ran on (as run.json records it for a pytest run)
from steerbench.report.run_dir import environment

env = environment(ROOT)
print({k: env["versions"][k] for k in ("python", "torch", "transformers", "steerbench")}, env["cpu_capability"],
      (env["git"] or {}).get("commit"))'''


def smoke() -> list[tuple[str, str, list[str]]]:
    return [
        ("markdown", '''# 01 — smoke test: one direction, one layer, baseline vs one alpha

Loads the model, takes `N_PROMPTS` prompts of each split, builds one refusal direction at one layer,
and compares the baseline with ActAdd at `ALPHA`: refusal on the shifted harmful split (harm_test, its
`refuse` prompts) and false refusal on benign prompts, with Wilson intervals and paired differences.
About 10 minutes on a free Colab CPU or a 2-core machine with the defaults below (the first load of
the model converts it once; `LAYER = "auto"` also runs the Arditi-style selection once per machine).
All the work is steerbench's; this notebook only calls it.''', []),
        ("code", '''MODEL = "smollm2-135m-refusal"  # the refusal organism (offline); any alias steerbench knows
N_PROMPTS = 20                  # per split
LAYER = "auto"                  # "auto": the Arditi-selected layer; or a block index (no selection needed)
ALPHA = 1.0                     # ActAdd strength in natural units (1 = the mean difference itself)
MAX_NEW_TOKENS = 32
SEED = 0
CACHE_DIR = ".steerbench_cache"  # shared with `pytest evals`: nothing is computed twice
N_EXAMPLES = 6
REPO_URL = ""                   # Colab: the git URL of your steerbench checkout''', ["parameters"]),
        ("code", INSTALL, []),
        ("code", '''from steerbench import progress
from steerbench.config import load_config
from steerbench.pipeline import open_study

overrides = {"model": MODEL, "n_prompts": N_PROMPTS, "generation.max_new_tokens": MAX_NEW_TOKENS, "seed": SEED,
             "alphas": f"0,{ALPHA}", "interventions": "add", "cache_dir": str(Path(CACHE_DIR).resolve())}
if LAYER != "auto":
    overrides["layers"] = str(LAYER)
config = load_config(rootdir=ROOT, overrides=overrides)
study = open_study(config, rootdir=ROOT, progress=progress.report)
layer = study.layers[0]
direction = study.direction(layer)
print(f"{study.model.name}: {study.model.n_layers} layers; direction {direction.method} at layer {layer} "
      f"({direction.hook_point}), natural scale {direction.scale:.2f}; {N_PROMPTS} prompts per split")''', []),
        ("code", '''import pandas as pd

from steerbench.interventions import BASELINE, Cell
from steerbench.metrics import refusal_rate
from steerbench.rows import pair_rows, refuse_rows
from steerbench.stats import paired_rate_diff

steered_cell = Cell(layer, "add", float(ALPHA))
table = []
for split, pick in (("harm_test", refuse_rows), ("benign", lambda frame: frame)):
    base, steered = pick(study.rows(BASELINE, split)), pick(study.rows(steered_cell, split))
    steered, base = pair_rows(steered, base)
    for name, frame in (("baseline", base), (steered_cell.id, steered)):
        rate = refusal_rate(frame["outcome"] == "refusal")
        table.append({"split": split, "cell": name, "refusal": round(rate.estimate, 3),
                      "95% CI": f"[{rate.low:.2f}, {rate.high:.2f}]", "n": rate.n})
    diff = paired_rate_diff(steered["outcome"] == "refusal", base["outcome"] == "refusal")
    table.append({"split": split, "cell": "difference (paired)", "refusal": round(diff.estimate, 3),
                  "95% CI": f"[{diff.low:.2f}, {diff.high:.2f}]", "n": diff.n})
pd.DataFrame(table)''', []),
        ("code", '''from steerbench.report.examples import shown_completion  # compliant answers to harmful requests are cut

shown = 0
for split in ("harm_test", "benign"):
    base, steered = study.rows(BASELINE, split), study.rows(steered_cell, split)
    for (_, b), (_, s) in zip(base.iterrows(), steered.iterrows()):
        if shown >= N_EXAMPLES or (shown >= N_EXAMPLES // 2 and split == "harm_test"):
            break
        print(f"--- {split} {b['prompt_id']}: {b['prompt'][:160]}")
        print(f"  baseline ({b['outcome']}): {shown_completion(split, b)[:300]}")
        print(f"  {steered_cell.id} ({s['outcome']}): {shown_completion(split, s)[:300]}")
        shown += 1''', []),
        ("code", VERSIONS, []),
    ]


def sweep() -> list[tuple[str, str, list[str]]]:
    return [
        ("markdown", '''# 02 — the full sweep

Runs the study's grid exactly as the README's `pytest evals` does (layers × interventions × alphas, the
sanity checks, controls and, unless excluded, the tampering question), on a GPU when the kernel has one,
and keeps the run directory (`results.parquet`, `evals.parquet`, `run.json`, figures, `examples.md`) under
its run id, optionally copied to Google Drive. The `fast` profile takes about an hour on 2 CPU cores;
`full` is meant for a GPU.''', []),
        ("code", '''PROFILE = "fast"         # ci | fast | full
WORKERS = 2              # xdist workers (CPU); 1 on a single GPU
MODEL = "smollm2-135m-refusal"
MARKERS = ""             # e.g. "not tampering" for the steering study alone
RESULTS_DIR = "reports"
DRIVE_DIR = ""           # Colab: e.g. "/content/drive/MyDrive/steerbench" to keep the run there
REPO_URL = ""            # Colab: the git URL of your steerbench checkout''', ["parameters"]),
        ("code", INSTALL, []),
        ("code", '''import torch

command = [sys.executable, "-m", "pytest", str(ROOT / "evals"), "--profile", PROFILE, "--model", MODEL,
           "--results-dir", str(Path(RESULTS_DIR).resolve()), "-p", "no:cacheprovider", "-q"]
if torch.cuda.is_available():
    command += ["--device", "cuda"]
elif WORKERS > 1:
    command += ["-n", str(WORKERS)]
if MARKERS:
    command += ["-m", MARKERS]
print(" ".join(command))
done = subprocess.run(command, cwd=ROOT)
print("pytest exit code", done.returncode, "(1: some verdict FAILed, which is a finding; see the summary above)")''', []),
        ("code", '''import json
import shutil

latest = Path(RESULTS_DIR).resolve() / "latest"
run = json.loads((latest / "run.json").read_text())
print("run", run.get("run_id"), "model", run.get("config", {}).get("model"))
if DRIVE_DIR:
    if DRIVE_DIR.startswith("/content/drive"):
        from google.colab import drive  # noqa: F401  (only on Colab)

        drive.mount("/content/drive")
    target = Path(DRIVE_DIR) / str(run.get("run_id"))
    shutil.copytree(latest, target, dirs_exist_ok=True)
    print("copied to", target)''', []),
        ("code", VERSIONS, []),
    ]


def analysis() -> list[tuple[str, str, list[str]]]:
    return [
        ("markdown", '''# 03 — analysis of a run

Loads a run directory (`results.parquet`, `evals.parquet`, `run.json`), re-renders its summary, figures
and `examples.md` with steerbench's own report code into a copy (the run itself is never modified),
and shows the verdicts, the summary table and a figure.''', []),
        ("code", '''RUN_DIR = "reports/latest"      # a run directory: reports/runs/<run_id>, reports/latest, reports/reference
OUT_DIR = ""                    # where the re-rendered copy goes ("": a temporary directory)
FIGURE = "tradeoff_refusal_vs_helpfulness.png"
REPO_URL = ""                   # Colab: the git URL of your steerbench checkout''', ["parameters"]),
        ("code", INSTALL, []),
        ("code", '''import json
import shutil
import tempfile

import pandas as pd

from steerbench.report import render_report
from steerbench.report.render import read_run

source = Path(RUN_DIR) if Path(RUN_DIR).is_absolute() else ROOT / RUN_DIR
out = Path(OUT_DIR) if OUT_DIR else Path(tempfile.mkdtemp()) / source.name
shutil.copytree(source, out, dirs_exist_ok=True)
if (out / "results.parquet").is_file():
    render_report(out)
    results, evals, run = read_run(out)
    print(f"{len(results)} completion rows, {len(evals)} eval records; model {run.get('config', {}).get('model')}; "
          f"re-rendered into {out}")
else:  # the committed reference runs leave out results.parquet (it holds every completion, harmful ones too)
    evals, run = pd.read_parquet(out / "evals.parquet"), json.loads((out / "run.json").read_text())
    print(f"{out} has no results.parquet (a committed reference): its own figures and tables are shown, not re-rendered")''', []),
        ("code", '''verdicts = evals[evals["verdict"] != ""].groupby(["question", "verdict"]).size().unstack(fill_value=0)
verdicts''', []),
        ("code", '''pd.read_csv(out / "summary.csv").head(12)''', []),
        ("code", '''from IPython.display import Image, display

figure = out / "figures" / FIGURE
display(Image(filename=str(figure))) if figure.is_file() else print("no", FIGURE, "in this run")
print("examples:", out / "examples.md")
print((out / "examples.md").read_text()[:1500])''', []),
        ("code", VERSIONS, []),
    ]


def notebook(cells: list[tuple[str, str, list[str]]]) -> dict:
    out = []
    for index, (kind, source, tags) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"cell-{index}", "metadata": {"tags": tags} if tags else {},
                "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    return {"cells": out, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                                       "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


NOTEBOOKS = {"01_smoke.ipynb": smoke, "02_sweep.ipynb": sweep, "03_analysis.ipynb": analysis}


def render(name: str) -> str:
    return json.dumps(notebook(NOTEBOOKS[name]()), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    for name in NOTEBOOKS:
        (HERE / name).write_text(render(name))
        print("wrote", HERE / name)
