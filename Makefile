# The two commands of a fresh machine (see README.md).
.PHONY: run test lint es-up es-down bench docs faults

run:   ## bootstrap, Elasticsearch, templates, then `socmon run`
	bash deploy/run.sh

test:  ## the whole test suite against a real Elasticsearch (what CI runs)
	bash deploy/test.sh

faults:  ## the fault suite with the documented durations: one table row per scenario (docs/reliability.md)
	.venv/bin/python -m tests.faults $(FAULTS_ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy socmon

es-up:
	.venv/bin/socmon es up

es-down:
	.venv/bin/socmon es down

docs:  ## regenerate the generated files: docs/configuration.md, rules/socmon-pipeline.yml
	.venv/bin/socmon config --docs > docs/configuration.md
	.venv/bin/socmon rules pipeline --shipped > rules/socmon-pipeline.yml
