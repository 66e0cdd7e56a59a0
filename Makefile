# The two commands: `make run` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WEB_PORT ?= 6066

.PHONY: install services run test chaos unit stop clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

services:
	bash infra/services.sh start

run: install services
	$(VENV)/bin/faust -A leaderboard_app worker -l info --web-port $(WEB_PORT) --web-host 127.0.0.1

test: install services
	$(PY) -m pytest

chaos: install services
	$(PY) -m pytest -m chaos

unit: install
	$(PY) -m pytest tests/unit

stop:
	bash infra/services.sh stop

clean: stop
	rm -rf .state $(VENV)
