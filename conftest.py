"""Root conftest: registers steerbench's session fixtures (fixtures/) for evals/ and tests/."""

pytest_plugins = ["fixtures.study", "fixtures.evaluation"]
