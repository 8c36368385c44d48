"""Regenerate docs/screenshots/ from a real ``tarmac demo``, in Debian's Chromium.

    PYTHONPATH=src python scripts/screenshots.py [--out docs/screenshots]

Starts ``tarmac demo`` in a scratch folder (so the pictures show exactly what the demo
creates), signs in as the demo user and saves the pages the README shows, at a laptop's
width (1280 px) and a phone's (390 px).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("TARMAC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


def start_demo(folder: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tarmac", "demo", "--data-dir", str(folder / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"},
    )
    assert process.stdout is not None
    output = ""
    deadline = time.monotonic() + 120
    while "Press Ctrl+C" not in output and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise SystemExit(f"tarmac demo exited:\n{output}")
        output += line
    url = re.search(r"http://127\.0\.0\.1:\d+", output)
    if url is None:
        raise SystemExit(f"tarmac demo printed no URL:\n{output}")
    return process, url[0]


def sign_in(page: Page, url: str) -> None:
    from tarmac.demo.sample import DEMO_PASSWORD, DEMO_USER

    page.goto(f"{url}/ui/login")
    page.get_by_label("Username").fill(DEMO_USER)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Deployments").wait_for()


def shoot(url: str, out: Path) -> list[Path]:
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for width, suffix in ((1280, ""), (390, "-phone")):
            page = browser.new_context(viewport={"width": width, "height": 800}).new_page()
            sign_in(page, url)
            page.screenshot(path=str(out / f"deployments{suffix}.png"), full_page=True)
            page.get_by_role("link", name="Sales ETL").first.click()
            page.locator("table.history").wait_for()
            page.screenshot(path=str(out / f"history{suffix}.png"), full_page=True)
            page.locator("#deploy-1 td.action a.button").click()
            page.locator("#ack-data_loss").check()
            page.locator("#description").fill("Deploy 3 broke the load")
            page.screenshot(path=str(out / f"rollback-dialog{suffix}.png"), full_page=True)
            saved += [out / f"{name}{suffix}.png" for name in ("deployments", "history")]
            saved.append(out / f"rollback-dialog{suffix}.png")
            page.context.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        process, url = start_demo(Path(scratch))
        try:
            for path in shoot(url, args.out):
                print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=15)


if __name__ == "__main__":
    main()
