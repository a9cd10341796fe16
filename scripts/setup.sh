#!/usr/bin/env bash
# Creates .venv with Python 3.10 (Rasa 3.6's ceiling) and installs the pinned
# project into it; with --tests, also the browser the widget tests drive and
# the system's PostgreSQL, Redis and nginx (the cluster test); with --cluster,
# those three only (`make cluster`). As root they are installed with apt-get;
# otherwise the command to run is printed.
# Re-running is cheap: nothing is reinstalled unless
# pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.installed"

works() { "$@" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }

find_python310() {
    if [ -n "${BOT_PYTHON:-}" ]; then
        if works "$BOT_PYTHON"; then echo "$BOT_PYTHON"; return 0; fi
        echo "BOT_PYTHON=$BOT_PYTHON n'est pas un Python 3.10 utilisable." >&2
        return 1
    fi
    local candidate
    # A pyenv shim named python3.10 exists even when 3.10 is not the selected
    # version and then fails, hence the check that it really runs.
    for candidate in python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
        if command -v "$candidate" >/dev/null 2>&1 && works "$candidate"; then
            command -v "$candidate"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        local version
        for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
            candidate="$(pyenv prefix "$version" 2>/dev/null)/bin/python3.10"
            if works "$candidate"; then echo "$candidate"; return 0; fi
        done
    fi
    if command -v uv >/dev/null 2>&1; then
        candidate="$(uv python find 3.10 2>/dev/null || true)"
        if [ -n "$candidate" ] && works "$candidate"; then echo "$candidate"; return 0; fi
    fi
    return 1
}

if [ ! -x "$VENV/bin/python" ] || ! works "$VENV/bin/python"; then
    if ! PYTHON=$(find_python310); then
        cat >&2 <<'MSG'
Python 3.10 est introuvable sur cette machine. Rasa 3.6 ne fonctionne qu'avec Python 3.10.
Installez-le, puis relancez la commande, par exemple :
  - avec pyenv :            pyenv install 3.10.13
  - sur Debian ou Ubuntu :  sudo apt install python3.10 python3.10-venv
  - avec uv :               uv python install 3.10
Ou indiquez un interpréteur 3.10 existant : BOT_PYTHON=/chemin/vers/python3.10 make run
MSG
        exit 1
    fi
    echo "Création de l'environnement virtuel $VENV avec $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ constraints.txt -nt "$STAMP" ]; then
    echo "Installation des dépendances (versions figées dans constraints.txt)…"
    # This machine's pip configuration lists local indexes that are often
    # absent; their warnings drown the useful output.
    quiet_pip() {
        "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
        return "${PIPESTATUS[0]}"
    }
    quiet_pip install --quiet --upgrade "pip==26.3" "setuptools==70.3.0" "wheel==0.45.1"
    quiet_pip install --quiet -c constraints.txt -e ".[dev]"
    "$VENV/bin/python" -m pip check
    touch "$STAMP"
fi

# The web widget's tests drive Debian's Chromium through Playwright, which
# cannot download its own browsers here. Only the test command needs it.
if [ "${1:-}" = "--tests" ] && [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installation de Chromium pour les tests du widget web (apt-get)…"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        cat >&2 <<'MSG'
Chromium est absent (/usr/bin/chromium) : les tests du widget web (tests/channels/web/test_widget.py)
échoueront. Installez-le une fois, puis relancez la commande :
  sudo apt-get update && sudo apt-get install -y chromium
MSG
    fi
fi

# PostgreSQL, Redis and nginx for `make cluster` and its test (tests/e2e/test_cluster.py).
if [ "${1:-}" = "--tests" ] || [ "${1:-}" = "--cluster" ]; then
    missing=()
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 \
        || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "Installation de ${missing[*]} pour le cluster (apt-get)…"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            cat >&2 <<MSG
Absents : ${missing[*]}. make cluster et son test (tests/e2e/test_cluster.py) en ont besoin.
Installez-les une fois, puis relancez la commande :
  sudo apt-get update && sudo apt-get install -y ${missing[*]}
MSG
        fi
    fi
fi
