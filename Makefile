# Two commands on a fresh machine: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local

.PHONY: install install-local run test bench bench-ack bench-load bench-reliability bench-local bench-validate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The local backend's training stack (torch, transformers, peft, trl: about 2 GB) is an optional extra:
# the bot runs without it; the tests install it so the local backend really trains a tiny model.
$(LOCAL_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,local]'
	touch $(LOCAL_STAMP)

install: $(STAMP)
install-local: $(LOCAL_STAMP)

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

test: $(LOCAL_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.pipeline_bench
	$(BIN)/python -m bench.ack_bench
	$(BIN)/python -m bench.load_bench
	$(BIN)/python -m bench.validate_bench

bench-ack: $(STAMP)
	$(BIN)/python -m bench.ack_bench

bench-load: $(STAMP)
	$(BIN)/python -m bench.load_bench

# The reliability run draws on the tests (the local backend's among them), so it needs the local extra.
bench-reliability: $(LOCAL_STAMP)
	$(BIN)/python -m bench.reliability_bench

bench-local: $(LOCAL_STAMP)
	$(BIN)/python -m bench.local_train_bench

bench-validate: $(STAMP)
	$(BIN)/python -m bench.validate_bench

clean:
	rm -rf $(VENV) build *.egg-info
