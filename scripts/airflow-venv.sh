#!/usr/bin/env bash
# Create, or reuse, a virtualenv holding a real Apache Airflow, for the tests marked
# `airflow`. Airflow pins its own dependencies (SQLAlchemy, FastAPI, …), so it never
# shares the server's venv. Prints the venv's directory on the last line of stdout.
#
#   scripts/airflow-venv.sh                 # Airflow 3.1.* (the default)
#   TARMAC_AIRFLOW_SPEC=3.0.* scripts/airflow-venv.sh
#
# tarmac itself is not installed into it: the tests put this checkout's src/ on
# PYTHONPATH (the agent and the DAG bundle need only httpx, which Airflow brings, and the
# standard library). So one venv, kept outside the work tree, serves every checkout:
# a fresh one takes about a minute, a reused one well under a second.
set -euo pipefail

spec=${TARMAC_AIRFLOW_SPEC:-3.1.*}
python=${TARMAC_AIRFLOW_PYTHON:-python3.11}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/tarmac
version=${spec//[^0-9.]/}
venv=${TARMAC_AIRFLOW_VENV:-$cache/airflow-${version%.}}
stamp="$venv/.tarmac-stamp"
want="apache-airflow==$spec python=$("$python" -c 'import sys; print(sys.version.split()[0])')"

mkdir -p "$(dirname "$venv")"
# Parallel test workers may all ask for the venv at once: one builds, the others wait.
exec 9>"$venv.lock"
flock 9

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv"
  exit 0
fi

started=$(date +%s)
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "apache-airflow==$spec" >&2
"$venv/bin/python" -c 'import airflow, httpx' >&2
echo "$want" >"$stamp"
echo "created $venv ($want) in $(($(date +%s) - started)) s" >&2
echo "$venv"
