"""Checks on the built documentation site (``make docs``): what a reader sees.

Skipped when ``docs/_build/html`` has not been built, except where
``ANOMVAE_DOCS_REQUIRED=1`` (CI, which builds the site first): there a missing
site fails. Parsing uses only the standard library's ``html.parser``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

SITE = Path(__file__).resolve().parents[1] / "docs" / "_build" / "html"

if not (SITE / "index.html").is_file():
    if os.environ.get("ANOMVAE_DOCS_REQUIRED") == "1":
        raise RuntimeError(f"{SITE} has not been built: run `make docs` first")
    pytest.skip("docs not built (make docs)", allow_module_level=True)

# Pages whose main content is filled in by JavaScript.
SCRIPTED = {"search.html"}
# Text inside these elements is code or machinery, not prose.
CODE_TAGS = {"code", "pre", "kbd", "samp", "script", "style", "math", "svg", "textarea"}
VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "param", "source", "track", "wbr",
}  # fmt: skip

# Markup that should have been rendered, never shown. Each: (what, pattern).
RAW_MARKUP = [
    ("Markdown code fence", re.compile(r"```")),
    ("reST inline literal", re.compile(r"``\S")),
    ("reST/Sphinx role", re.compile(r"(?<![\w`]):[a-z]+(?::[a-z]+)?:`")),
    (
        "MyST role or directive",
        re.compile(r"\{[a-z][\w-]*(?::[\w-]+)?\}`|\{eval-rst\}"),
    ),
    ("reST directive", re.compile(r"(?:^|\s)\.\. [a-z][\w-]*(?::[\w-]+)?::")),
    ("reST substitution", re.compile(r"(?<![\w|])\|[A-Za-z_][\w-]*\|(?![\w|])")),
    ("colon fence", re.compile(r"^:::", re.M)),
    ("Markdown link", re.compile(r"\]\((?:[\w./#-]+)\)")),
    ("Markdown heading", re.compile(r"^#{1,6} \w", re.M)),
    ("Markdown bold", re.compile(r"\*\*[A-Za-z][^*\n]*\*\*")),
    ("section underline", re.compile(r"^\s*(?:-{4,}|={4,}|~{4,})\s*$", re.M)),
    ("raw LaTeX math", re.compile(r"\\\(|\\\[|\$\$")),
]


@dataclass
class Page:
    path: Path
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)  # href of <a>, src of <img>
    prose: list[str] = field(default_factory=list)  # visible text outside code
    article: list[str] = field(default_factory=list)  # text of the main content
    h1: list[str] = field(default_factory=list)
    strong_in_article: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.relative_to(SITE).as_posix()


class _Parser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.stack: list[str] = []
        self.code = 0  # depth inside CODE_TAGS
        self.article = 0  # depth inside the main content area
        self.h1 = 0
        self.strong = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.page.ids.add(a["id"] or "")
        if tag == "a" and a.get("name"):
            self.page.ids.add(a["name"] or "")
        if tag == "a" and a.get("href") is not None:
            self.page.links.append(a["href"] or "")
        if tag == "img" and a.get("src"):
            self.page.links.append(a["src"] or "")
        if tag in VOID_TAGS:
            return
        self.stack.append(tag)
        self.code += tag in CODE_TAGS
        self.h1 += tag == "h1"
        self.strong += tag == "strong"
        classes = (a.get("class") or "").split()
        if self.article or (tag == "article" and "bd-article" in classes):
            self.article += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS or tag not in self.stack:
            return
        while self.stack:
            open_tag = self.stack.pop()
            self.code -= open_tag in CODE_TAGS
            self.h1 -= open_tag == "h1"
            self.strong -= open_tag == "strong"
            if self.article:
                self.article -= 1
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if "script" in self.stack or "style" in self.stack:
            return
        if self.article:
            self.page.article.append(data)
            if self.h1:
                self.page.h1.append(data)
            if self.strong:
                self.page.strong_in_article.append(data.strip())
        if not self.code:
            self.page.prose.append(data)


def _parse(path: Path) -> Page:
    page = Page(path)
    parser = _Parser(page)
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return page


@pytest.fixture(scope="module")
def pages() -> dict[Path, Page]:
    paths = sorted(
        p
        for p in SITE.rglob("*.html")
        if not p.relative_to(SITE).parts[0].startswith("_")
    )
    return {p: _parse(p) for p in paths}


def _report(problems: list[str], what: str) -> str:
    head = "\n  ".join(problems[:25])
    more = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
    return f"{len(problems)} {what}:\n  {head}{more}"


def test_the_site_has_the_expected_sections(pages: dict[Path, Page]) -> None:
    names = {p.name for p in pages.values()}
    for expected in (
        "index.html",
        "guide/index.html",
        "guide/numeric-tables.html",
        "guide/benchmark.html",
        "api/index.html",
        "api/generated/anomvae.VAEDetector.html",
        "notebooks/index.html",
        "notebooks/01_quickstart.html",
        "developer/index.html",
        "ARCHITECTURE.html",
        "benchmarks/results/summary.html",
    ):
        assert expected in names, f"{expected} missing from the built site"


def test_notebooks_show_their_plots(pages: dict[Path, Page]) -> None:
    notebooks = sorted((SITE.parents[2] / "notebooks").glob("*.ipynb"))
    assert notebooks
    for notebook in notebooks:
        page = pages[SITE / "notebooks" / f"{notebook.stem}.html"]
        images = [link for link in page.links if "_images/" in link]
        assert images, f"{page.name} shows none of the notebook's committed plots"


def test_every_page_has_main_content(pages: dict[Path, Page]) -> None:
    problems = []
    for page in pages.values():
        if page.path.name in SCRIPTED:
            continue
        title = " ".join("".join(page.h1).split()).rstrip("#")
        body = " ".join("".join(page.article).split())
        if not title:
            problems.append(f"{page.name}: no <h1> in the main content")
        if len(body) - len(title) < 10:
            problems.append(f"{page.name}: main content is empty ({body!r})")
    assert not problems, _report(problems, "pages without content")


def test_no_raw_markup_on_screen(pages: dict[Path, Page]) -> None:
    problems = []
    for page in pages.values():
        text = "".join(page.prose)
        for what, pattern in RAW_MARKUP:
            for m in pattern.finditer(text):
                context = " ".join(text[max(0, m.start() - 40) : m.end() + 40].split())
                problems.append(f"{page.name}: {what}: ...{context}...")
    assert not problems, _report(problems, "pieces of raw markup on screen")


def _target(page: Page, link: str) -> tuple[Path, str] | None:
    """The local file and anchor a link points to; None for external links."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith("//"):
        return None
    path = unquote(parts.path)
    target = (page.path.parent / path).resolve() if path else page.path
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def test_every_internal_link_resolves(pages: dict[Path, Page]) -> None:
    by_path = {p.resolve(): page for p, page in pages.items()}
    problems = []
    checked = 0
    for page in pages.values():
        for link in page.links:
            resolved = _target(page, link)
            if resolved is None:
                continue
            target, anchor = resolved
            checked += 1
            if not target.is_relative_to(SITE.resolve()):
                problems.append(f"{page.name}: {link} leaves the site")
            elif not target.is_file():
                problems.append(f"{page.name}: {link}: no such file")
            elif anchor and target.suffix == ".html":
                other = by_path.get(target) or _parse(target)
                if anchor not in other.ids:
                    problems.append(
                        f"{page.name}: {link}: no id {anchor!r} in the page"
                    )
    assert checked > 1000, f"only {checked} internal links found: is the site complete?"
    assert not problems, _report(problems, "broken internal links")


def test_vaedetector_page_lists_its_parameters(pages: dict[Path, Page]) -> None:
    from anomvae import VAEDetector

    page = pages[SITE / "api" / "generated" / "anomvae.VAEDetector.html"]
    text = " ".join("".join(page.article).split())
    assert "Parameters" in text
    shown = set(page.strong_in_article)
    missing = sorted(set(VAEDetector().get_params()) - shown)
    assert not missing, f"parameters not listed on the VAEDetector page: {missing}"
    for method in ("fit", "anomaly_score", "predict"):
        assert f"anomvae.VAEDetector.{method}" in page.ids, (
            f"method {method} not documented"
        )
