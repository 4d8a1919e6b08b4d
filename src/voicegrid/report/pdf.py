"""The report as a PDF: the HTML printed by headless Chromium (Debian's `chromium`), which draws the
inline SVG exactly as a browser does. Only paths we make reach its command line."""

import shutil
import subprocess
import tempfile
from pathlib import Path

TIMEOUT_S = 120


class PdfError(Exception):
    pass


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise PdfError("--pdf needs Chromium (Debian: apt-get install chromium)")


def print_pdf(html: str, target: Path) -> None:
    """Write `html` as a PDF at `target` (an absolute path is used: no argument can read as an option)."""
    target = target.resolve()
    with tempfile.TemporaryDirectory(prefix="voicegrid-report-") as work:
        page = Path(work) / "report.html"
        page.write_text(html, encoding="utf-8")
        argv = [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={Path(work) / 'profile'}",
            f"--print-to-pdf={target}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not print within {TIMEOUT_S} s") from None
        if done.returncode != 0 or not target.exists():
            raise PdfError(
                f"Chromium failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}"
            )
