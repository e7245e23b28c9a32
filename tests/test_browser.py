"""The report in a real headless browser: no console errors, every plot rendered."""

import re
import shutil
import subprocess

import pytest
from test_end_to_end import digits_run  # noqa: F401  (the shared small run)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000"]  # let the plots finish drawing


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_report_renders_in_chromium_without_errors(digits_run, tmp_path):  # noqa: F811
    out = digits_run[0]
    page = (out / "index.html").resolve().as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM, *FLAGS, *profile, "--dump-dom", page],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console  # any console message (errors included) fails
    html = (out / "index.html").read_text()
    # every plot drawn: vega-embed puts one <svg class="marks"> into each plot's div
    drawn = re.findall(r'<svg [^>]*class="marks', dom.stdout)
    assert len(drawn) == html.count('<div class="vega"') >= 8
    assert ">This plot could not be drawn" not in dom.stdout
    assert dom.stdout.count("<img") == html.count("<img")
    assert re.search(r"<table class=\"sortable\">", dom.stdout)
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, *profile, "--window-size=1280,2400",
                    f"--screenshot={shot}", page], capture_output=True, timeout=120,
                   check=True)
    assert shot.stat().st_size > 50_000
    shutil.copy(shot, out / "report-screenshot.png")  # kept beside the report
