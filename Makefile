# Ruihe SaaS — the two commands: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: demo test test-sqlite install lint format translations catalog serve worker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Install the app and its test tools, and compile the message catalogues.
$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed translations

translations: $(VENV)/.installed
	$(BIN)/pybabel -q compile -d ruihe_saas/translations

# After adding or changing UI strings: extract them and update the zh/en catalogues.
catalog: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k _ln:1,2 -o ruihe_saas/translations/messages.pot .
	$(BIN)/pybabel -q update -i ruihe_saas/translations/messages.pot -d ruihe_saas/translations --no-fuzzy-matching

# Set up, migrate, load the demo tenants, print their logins, serve on http://127.0.0.1:5000
demo: install
	$(BIN)/flask db upgrade
	$(BIN)/flask tenants load tenants/ruihe
	$(BIN)/flask tenants load tenants/nanyuan
	@echo "Ruihe SaaS demo: http://127.0.0.1:5000  (log in with a demo login above)"
	$(BIN)/flask run --host 127.0.0.1 --port 5000

# The test suite. Backends come from DATABASE_URL / DATABASE_OWNER_URL / REDIS_URL
# (unset: SQLite, in-process jobs; tests needing PostgreSQL/Redis/Chromium skip, or fail in CI).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

# The suite on SQLite only (CI's second pass), services' tests deselected.
test-sqlite: install
	env -u DATABASE_URL -u DATABASE_OWNER_URL -u REDIS_URL \
		$(BIN)/pytest -m "not postgres and not redis and not browser" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: install
	$(BIN)/gunicorn --workers 2 --bind 127.0.0.1:8000 wsgi:app

worker: install
	$(BIN)/flask worker

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
