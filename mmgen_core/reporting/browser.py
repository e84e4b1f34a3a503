"""Check a results page in a real browser: headless Chromium loads every <audio> player's file and reports
its duration, so a page whose players are silent (a wrong link, an unreadable file) fails a test."""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSER = "chromium"
_RESULT_ID = "mmgen-audio-durations"
# Waits for every player's metadata (or its error: NaN), then writes the durations into the DOM for --dump-dom.
_PROBE = f"""<script>
(function () {{
  const players = Array.from(document.querySelectorAll("audio"));
  let left = players.length;
  const finish = () => {{
    const out = document.createElement("pre");
    out.id = "{_RESULT_ID}";
    out.textContent = JSON.stringify(players.map(a => a.duration));
    document.body.appendChild(out);
  }};
  const one = () => {{ if (--left === 0) finish(); }};
  players.forEach(a => {{
    a.addEventListener("loadedmetadata", one, {{once: true}});
    a.addEventListener("error", one, {{once: true}});
    a.preload = "metadata";
    a.load();
  }});
  if (!players.length) finish();
}})();
</script>"""


def audio_durations(page: Path, timeout_s: float = 30) -> list[float]:
    """Durations in seconds of every <audio> on ``page`` as headless Chromium loads them (NaN: it could not),
    so a test proves the page's players play rather than only that their files exist."""
    page = Path(page).resolve()
    browser = shutil.which(BROWSER)
    if browser is None:
        raise RuntimeError(f"cannot check {page}: {BROWSER} is not installed; run `make install` "
                           "(installs Debian's chromium)")
    html = page.read_text(encoding="utf-8")
    probed = html.replace("</body>", _PROBE + "</body>", 1) if "</body>" in html else html + _PROBE
    # a sibling of the page, so its relative links resolve as the page's own do
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".html", prefix=".probe-", dir=page.parent,
                                     delete=False) as f:
        f.write(probed)
        probe = Path(f.name)
    try:
        with tempfile.TemporaryDirectory(prefix="mmgen-chromium-") as profile:
            run = subprocess.run(
                [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                 "--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=15000",
                 f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{BROWSER} did not finish loading {page} within {timeout_s:g} s") from exc
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(rf'<pre id="{_RESULT_ID}">(.*?)</pre>', run.stdout, re.S)
    if found is None:
        raise RuntimeError(f"{BROWSER} returned no audio durations for {page} (exit {run.returncode}): "
                           f"{run.stderr.strip()[-500:]}")
    return [math.nan if d is None else float(d) for d in json.loads(found.group(1))]
