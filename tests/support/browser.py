"""A real browser for tests: Debian's headless Chromium (``apt-get install chromium``), which
opens a page from disk, runs it, and hands back the DOM it ended with."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (apt-get install chromium; .ci/run installs it)")


def _flags(tmp: Path) -> list[str]:
    # --no-sandbox: CI runs as root; a profile of its own, so runs never share state
    return ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp}",
            "--allow-file-access-from-files"]


def rendered_dom(page: Path, tmp: Path) -> str:
    """The page's DOM after it loaded and its scripts ran (``--dump-dom``)."""
    out = subprocess.run([chromium(), *_flags(tmp), "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def screenshot(page: Path, png: Path, tmp: Path, width: int = 1280, height: int = 2400) -> Path:
    out = subprocess.run([chromium(), *_flags(tmp), "--hide-scrollbars", f"--window-size={width},{height}",
                          f"--screenshot={png.resolve()}", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and png.exists(), out.stderr[-2000:]
    return png


@dataclass
class Dom:
    """What a test checks in a rendered page: body attributes, images, tables with their body rows."""

    body: dict[str, str] = field(default_factory=dict)
    images: list[dict[str, str]] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    """Each: ``{"id": ..., "rows": body rows, "cells": texts of the first body row}``."""
    refs: list[str] = field(default_factory=list)
    """Every src / href in the page."""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.dom = Dom()
        self._in_tbody = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        for key in ("src", "href"):
            if key in a:
                self.dom.refs.append(a[key])
        if tag == "body":
            self.dom.body = a
        elif tag == "img":
            self.dom.images.append(a)
        elif tag == "table":
            self.dom.tables.append({"id": a.get("id", ""), "rows": 0, "cells": []})
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody and self.dom.tables:
            self.dom.tables[-1]["rows"] += 1
        elif tag in ("td", "th") and self._in_tbody and self.dom.tables and self.dom.tables[-1]["rows"] == 1:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_tbody = False
        elif tag in ("td", "th") and self._cell is not None:
            self.dom.tables[-1]["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Dom:
    p = _Parser()
    p.feed(html)
    return p.dom


def assert_page_loads(page: Path, tmp: Path) -> Dom:
    """Open ``page`` in Chromium: every figure loaded (decoded, non-zero size) and every table
    has body rows."""
    dom = parse(rendered_dom(page, tmp))
    n = len(dom.images)
    assert n > 0, "the page shows no figure"
    assert dom.body.get("data-images") == f"{n}/{n}", f"figures loaded: {dom.body.get('data-images')} of {n}"
    assert all(img.get("data-loaded") == "1" for img in dom.images), [i.get("src") for i in dom.images]
    assert dom.tables, "the page has no table"
    empty = [t["id"] or f"table {i}" for i, t in enumerate(dom.tables) if t["rows"] == 0]
    assert not empty, f"tables without rows: {empty}"
    return dom


def assert_self_contained(folder: Path) -> None:
    """No file of the report refers to anything outside its folder: every src/href of the
    HTML names a file in the folder (no URL scheme, absolute path or '..'), and the page pulls
    nothing in another way (no CSS url(), @import, link, iframe, object or embed)."""
    html = (folder / "index.html").read_text(encoding="utf-8")
    dom = parse(html)
    for ref in dom.refs:
        assert "://" not in ref and not ref.startswith(("/", "//", "data:", "javascript:")) and ".." not in ref, ref
        assert (folder / ref).is_file(), f"{ref}: not in the report folder"
    lowered = html.lower()
    for needle in ("url(", "@import", "<link", "<iframe", "<object", "<embed"):
        assert needle not in lowered, f"the page has {needle!r}"
