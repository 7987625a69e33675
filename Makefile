# Thin aliases of the README commands (the seed's users type these); the README stays the source of truth.
.PHONY: setup test study figs ci

setup:  ## one-step setup into the active venv (README "Install")
	bash setup.sh

test:  ## the test suite (README "Tests")
	pytest tests

study:  ## the study on the embedded default model
	pytest evals -n 4

figs:  ## re-render summary, figures and examples.md of the latest run
	steerbench report reports/latest

ci:  ## what CI runs, from a fresh venv
	bash .ci/run
