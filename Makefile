# Two commands on a fresh machine: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench bench-ack clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The Makefile decides, not the product: with no Slack credentials in the environment or .env, `make run`
# starts the offline sandbox (python -m sandbox); `finetune-bot run` itself refuses to start without them.
SLACK_SET = $(strip $(SLACK_BOT_TOKEN)$(SLACK_APP_TOKEN)$(SLACK_SIGNING_SECRET))
run: $(STAMP)
	@if [ -n "$(SLACK_SET)" ] || grep -qsE '^[[:space:]]*(export[[:space:]]+)?SLACK_(BOT_TOKEN|APP_TOKEN|SIGNING_SECRET)[[:space:]]*=[[:space:]]*[^[:space:]#]' .env; then \
		exec $(BIN)/finetune-bot run; \
	else \
		echo "No Slack credentials set (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET): starting the offline sandbox."; \
		exec $(BIN)/python -m sandbox; \
	fi

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.pipeline_bench
	$(BIN)/python -m bench.ack_bench

bench-ack: $(STAMP)
	$(BIN)/python -m bench.ack_bench

clean:
	rm -rf $(VENV) build *.egg-info
