"""report.html in a real browser: headless Chromium (Debian's `chromium`) opens it offline,
logs no console errors, loads every plot, fetches nothing, and writes a screenshot.

The page has no scripts; the test opens an instrumented copy whose one added script records
errors, console.error calls, image sizes and resource fetches into the DOM, which Chromium's
--dump-dom prints. The original page is screenshotted as it is.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from snapdeploy.report.document import HTML_FILE, write_full_report

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="NO CHROMIUM BINARY FOUND: report.html was NOT checked in a browser; install Debian's "
    "`chromium` (the Makefile's test set-up does: apt-get install -y chromium)",
)
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || e.target.src)), true);
const realError = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); realError(...args); };
window.addEventListener("load", () => {
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    errors: window.__errors,
    images: [...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]),
    svg: document.querySelectorAll("svg rect").length,
    fetched: performance.getEntriesByType("resource").map(r => r.name),
  });
  document.body.appendChild(probe);
});
</script>"""


def chromium(*args: str, profile) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,3000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def page(deployed, tmp_path_factory):
    directory = shutil.copytree(deployed.demo, tmp_path_factory.mktemp("html") / "demo")
    report = write_full_report(directory)
    return directory, report


def test_report_html_renders_every_plot_without_console_errors(page, tmp_path):
    directory, report = page
    html = (directory / HTML_FILE).read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("<head>", "<head>" + PROBE, 1))
    done = chromium(
        "--virtual-time-budget=10000",
        "--dump-dom",
        probed.as_uri(),
        profile=tmp_path / "profile-dom",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, "the page never finished loading"
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == []
    assert not [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert probe["fetched"] == []  # self-contained: nothing loaded from anywhere
    assert probe["svg"] == len(report["energy"]["devices"])
    assert sorted(i[0] for i in probe["images"]) == sorted(report["plots"])
    for alt, complete, width, height in probe["images"]:
        assert complete and (width, height) == (1000, 400), alt


def test_report_html_screenshot_is_written(page, tmp_path):
    directory, _ = page
    shot = tmp_path / "report.png"
    done = chromium(
        f"--screenshot={shot}", (directory / HTML_FILE).as_uri(), profile=tmp_path / "profile-shot"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 50_000
