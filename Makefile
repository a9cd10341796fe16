# Bot citoyen de Toulouse Métropole. `make help` lists the commands.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
# V=1: also the other packages' messages (deprecation notices, Rasa's training progress).
VERBOSE := $(if $(V),--verbose)
# After a failed command, make adds an English "Error 1" line under the French
# message that already said everything. `|| $(FAIL)` stops make with an
# interrupt instead, which prints nothing more (exit status 130). Where make
# ignores interrupts (started in the background, some CI runners: SigIgn bit 2
# of its /proc status), or that cannot be read, it fails the usual way. Either
# way the failure is seen.
FAIL := { ignored=$$(awk '/^SigIgn/ {print $$2}' /proc/$$PPID/status 2>/dev/null); \
	if [ -n "$$ignored" ] && (( (0x$$ignored & 2) == 0 )); then kill -INT $$PPID; else exit 1; fi; }

.PHONY: help setup run cluster test lint check demander rapport train bench bench-charge lock clean

help: ## Liste les commandes
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## Crée .venv (Python 3.10) et installe les dépendances figées
	@bash scripts/setup.sh

run: setup ## Démarre le bot (entraîne le modèle si besoin) ; Ctrl-C pour arrêter (V=1 : messages détaillés des bibliothèques)
	@$(PY) -m bot run $(VERBOSE)

cluster: ## Démarre PostgreSQL, Redis, deux instances Rasa et nginx sur cette machine (installe les paquets si root)
	@bash scripts/setup.sh --cluster
	@$(PY) -m bot cluster $(VERBOSE)

test: ## Lance toute la suite : lint, types, connaissances, données Rasa, tests (dont le navigateur)
	@bash scripts/setup.sh --tests
	@$(PY) -m ruff check bot actions tests bench
	@$(PY) -m ruff format --check bot actions tests bench
	@$(PY) -m mypy
	@$(PY) -m bot check || $(FAIL)
	@$(PY) -m pytest

lint: setup ## Corrige le style avec ruff
	@$(PY) -m ruff check --fix bot actions tests bench
	@$(PY) -m ruff format bot actions tests bench

check: setup ## Vérifie les fichiers de connaissances : erreurs d'abord, puis un résumé (A=1 : chaque avertissement)
	@$(PY) -m bot check $(if $(A),--avertissements) || $(FAIL)

demander: ## Pose une question au bot qui tourne et affiche sa réponse : make demander Q="ma question" [COMMUNE=Balma]
	@$(PY) -m bot demander "$$Q" $(if $(COMMUNE),--commune "$$COMMUNE") || $(FAIL)

rapport: setup ## Rapport des questions sans réponse satisfaisante des 7 derniers jours (var/rapport/)
	@$(PY) -m bot rapport

train: setup ## Entraîne le modèle si les données, le domaine ou la configuration ont changé (V=1 : messages détaillés des bibliothèques)
	@$(PY) -m bot train $(VERBOSE)

bench: setup ## Mesure la latence par tour sur 200 tours, face à la configuration Rasa d'origine
	@$(PY) bench/conversation_latency.py

bench-charge: setup ## Teste la charge (Locust, environnement à part) : 1, 20, 50 et 200 conversations
	@$(PY) bench/load_benchmark.py

lock: setup ## Refige constraints.txt après un changement de pyproject.toml
	@$(PY) -m pip freeze --exclude-editable | grep -v '^bot-citoyen' \
	  | { echo "# Every package of the virtual environment, pinned as resolved by pip on Python 3.10 (pip check clean)."; \
	      echo "# Regenerate with: make lock (after changing pyproject.toml)."; cat; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt

clean: ## Supprime modèles, caches et conversations locales (garde .venv)
	rm -rf models .rasa var .pytest_cache .mypy_cache .ruff_cache
