#!/usr/bin/env bash
# Refresh docs/screenshots/{compare,insight,webhooks}-{390,1280}.png from a real Chromium
# run of tests/e2e/ui/test_insight_pages.py (the test writes them when asked to).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
TARMAC_SAVE_SCREENSHOTS=1 PYTHONPATH="$PWD/src" "$PYTHON" -m pytest \
  tests/e2e/ui/test_insight_pages.py -q -n 0 -p no:cacheprovider
ls -l docs/screenshots/compare-*.png docs/screenshots/insight-*.png docs/screenshots/webhooks-*.png
