"""Screenshots of the built documentation with headless Chromium, checked for blankness.

Serves ``docs/_build/html`` on 127.0.0.1 (a free port), opens the home page, one
guide page and the ``VAEDetector`` API page in Debian's headless Chromium, and
saves a PNG of each (``docs/_screenshots/`` by default). A page that renders
(nearly) blank fails: the script checks that every PNG's pixels vary.

    python scripts/docs_screenshots.py [--out DIR] [--chromium PATH]

Exit status: 0 when every screenshot was taken and is not blank, 1 otherwise,
2 when the site is not built or Chromium is missing. Works offline.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
PAGES = {
    "home.png": "index.html",
    "guide-thresholds.png": "guide/thresholds.html",
    "api-VAEDetector.png": "api/generated/anomvae.VAEDetector.html",
}
WINDOW = (1280, 1600)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--virtual-time-budget=5000",  # let fonts and the theme's scripts settle
]


def png_pixels(path: Path) -> tuple[int, int, int, bytes]:
    """Width, height, bytes per pixel and the unfiltered pixel rows of an 8-bit PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat = 8, b""
    width = height = depth = color = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if depth != 8 or color not in (0, 2, 4, 6):
        raise ValueError(
            f"{path}: unsupported PNG (bit depth {depth}, colour type {color})"
        )
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = bytearray(), bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        rows += line
        prev = line
    return width, height, bpp, bytes(rows)


def blankness(path: Path) -> tuple[float, float]:
    """Share of pixels that differ from the most common colour, and the grey variance."""
    _, _, bpp, pixels = png_pixels(path)
    step = bpp
    grey = [
        sum(pixels[i : i + min(3, bpp)]) / min(3, bpp)
        for i in range(0, len(pixels), step)
    ]
    counts: dict[int, int] = {}
    for value in grey:
        counts[int(value)] = counts.get(int(value), 0) + 1
    background = max(counts.values())
    mean = sum(grey) / len(grey)
    variance = sum((g - mean) ** 2 for g in grey) / len(grey)
    return 1 - background / len(grey), variance


def shrink(path: Path) -> None:
    """Store the screenshot with a 64-colour palette (a third of the size), if Pillow is here."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    # Port 0: the system picks a free port.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def screenshot(chromium: str, url: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="anomvae-chromium-") as profile:
        cmd = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--screenshot={out}",
            url,
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_screenshots")
    parser.add_argument(
        "--chromium", default=shutil.which("chromium") or "/usr/bin/chromium"
    )
    parser.add_argument(
        "--page",
        action="append",
        default=[],
        metavar="NAME.png=PATH",
        help="another page to shoot, e.g. bench.png=guide/benchmark.html (repeatable)",
    )
    parser.add_argument("--only", action="store_true", help="only the --page pages")
    args = parser.parse_args(argv)
    pages = {} if args.only else dict(PAGES)
    for spec in args.page:
        name, _, page = spec.partition("=")
        pages[name] = page

    if not (SITE / "index.html").is_file():
        print(f"{SITE} is not built: run `make docs` first", file=sys.stderr)
        return 2
    if not Path(args.chromium).exists():
        print(
            f"no Chromium at {args.chromium} (apt-get install chromium)",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    server, port = serve(SITE)
    failed = False
    try:
        for name, page in pages.items():
            out = args.out / name
            out.unlink(missing_ok=True)
            try:
                screenshot(args.chromium, f"http://127.0.0.1:{port}/{page}", out)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
                stderr = getattr(err, "stderr", b"") or b""
                print(f"{page}: chromium failed: {err}\n{stderr.decode()[-2000:]}")
                failed = True
                continue
            if not out.is_file():
                print(f"{page}: no screenshot written")
                failed = True
                continue
            share, variance = blankness(out)
            # A rendered page has text all over it: well over 2% of its pixels
            # differ from the background. A blank or error page has almost none.
            verdict = "ok" if share > 0.02 and variance > 50 else "BLANK"
            failed |= verdict != "ok"
            shrink(out)
            print(
                f"{verdict:5} {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
                f"  ({page}; {share:.1%} non-background pixels, grey variance {variance:.0f})"
            )
    finally:
        server.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
