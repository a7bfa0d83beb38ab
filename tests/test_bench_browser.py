"""report.html in a real headless browser (Chromium from Debian: ``apt-get install -y chromium``;
skipped where it is missing): every image loads, nothing overflows the page, no table cell or
heading clips its text, and the takeaway leads the page."""

import json
import re
import shutil
import subprocess

import pytest

from acwa.bench import run_bench

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")]

PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const clipped = [...document.querySelectorAll('td, th, h1, h2, p, li')]
    .filter(el => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
    .map(el => el.textContent.slice(0, 40));
  const cut = [...document.querySelectorAll('h1, h2, p, li, table, img')]
    .filter(el => !el.closest('.scroll') && el.getBoundingClientRect().right > window.innerWidth + 1)
    .map(el => el.tagName + ':' + (el.textContent || el.alt).slice(0, 40));
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    clipped, cut,
    pageOverflow: document.documentElement.scrollWidth > window.innerWidth + 1,
    first: document.querySelector('h1 + p') ? document.querySelector('h1 + p').id : null,
  });
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _probe(path, tmp_path):
    probed = tmp_path / f"probed-{path.stem}.html"
    probed.write_text(path.read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium("--window-size=1200,900", "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()).stdout
    match = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.S)
    assert match, dom[-2000:]
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_the_probe_sees_broken_images_and_clipped_text(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><h1>t</h1><p id='x'>y</p><img alt='gone' src='data:image/png;base64,AAAA'>"
        "<table><tr><td style='max-width:20px;overflow:hidden'>a rather long cell text</td></tr></table>"
        "<p style='width:3000px'>wide</p></body></html>"
    )
    result = _probe(bad, tmp_path)
    assert result["broken"] == ["gone"] and result["clipped"] == ["a rather long cell text"]
    assert result["cut"] == ["P:wide"] and result["pageOverflow"] and result["first"] == "x"


def test_report_html_renders_in_a_headless_browser(tmp_path):
    out = tmp_path / "rep"
    run_bench("digits-lt", methods="ce,la,balanced-softmax,acwa-val", seeds=2, epochs=3, out=str(out), progress=False)
    result = _probe(out / "report.html", tmp_path)
    assert result["images"] >= 5 and result["broken"] == []
    assert result["clipped"] == [] and result["cut"] == [] and not result["pageOverflow"]
    assert result["first"] == "takeaway"
    shot = tmp_path / "shot.png"
    _chromium("--window-size=1200,1600", f"--screenshot={shot}", (out / "report.html").as_uri())
    assert shot.is_file() and shot.stat().st_size > 20_000  # a rendered page, not a blank one
