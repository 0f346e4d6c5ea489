"""Build-time page generation for the anomvae documentation.

Everything this extension writes is derived from committed files and is
git-ignored, so the site always follows the code, the notebooks and the
benchmark results instead of a retyped copy of them:

* ``api/generated/``: one page per public module (its ``__all__`` as a summary
  table) and one page per public name (autodoc + numpydoc). The modules come
  from ``anomvae_api_modules`` in ``conf.py``; adding a module is one line there.
* ``notebooks/``: the committed notebooks (with their outputs) and their README,
  copied from the repository's ``notebooks/``; myst-nb renders them without
  executing anything.
* ``benchmarks/results/``: the generated Markdown reports and plots of
  ``benchmarks/results/`` (and ``heldout/``), as pages of the site.
* ``_generated/``: the benchmark headline sections (``readme_section.md``) with
  their links rewritten for inclusion in the guide (``{include}``).

Files are rewritten only when their content changes, so incremental builds stay
incremental, and stale generated files are removed, so a name that leaves
``__all__`` leaves the site.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import reprlib
import shutil
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.utils.math.latex2mathml import tex2mathml
from numpydoc.docscrape import NumpyDocString
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError, PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.nodes import make_refnode

logger = logging.getLogger(__name__)
_MISSING = object()

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
API_OUT = DOCS / "api" / "generated"
NOTEBOOKS_OUT = DOCS / "notebooks"
BENCH_OUT = DOCS / "benchmarks" / "results"
INCLUDE_OUT = DOCS / "_generated"


def _write(path: Path, text: str, written: set[Path]) -> None:
    """Write ``text`` to ``path`` unless it already holds exactly that."""
    written.add(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _copy(src: Path, dst: Path, written: set[Path]) -> None:
    written.add(dst)
    if dst.exists() and dst.read_bytes() == src.read_bytes():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _prune(folder: Path, written: set[Path]) -> None:
    """Remove generated files that this build did not write."""
    if not folder.exists():
        return
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and path not in written:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


# --------------------------------------------------------------------------- API


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return "data"


def _object_page(module: str, name: str, obj: Any) -> str:
    kind = _kind(obj)
    lines = [_title(f"{module}.{name}"), f".. currentmodule:: {module}", ""]
    if kind in ("class", "exception"):
        lines += [
            f".. auto{kind}:: {name}",
            "   :members:",
            "   :inherited-members:",
            "   :show-inheritance:",
        ]
    elif kind == "function":
        lines += [f".. autofunction:: {name}"]
    else:
        lines += [f".. autodata:: {name}"]
        # Long reprs (dicts, schemas) are unreadable in a signature line.
        if len(repr(obj)) > 80:
            lines += ["   :no-value:"]
    return "\n".join(lines) + "\n"


def _first_paragraph(doc: str | None) -> str:
    lines = inspect.cleandoc(doc or "").splitlines()
    out = []
    for line in lines:
        if not line.strip():
            break
        out.append(line.strip())
    return " ".join(out)


def _attribute_doc(module: str, name: str, obj: Any) -> str:
    """The ``#:`` comment of a module constant, where it is defined."""
    candidates = [module, *sorted(m for m in sys.modules if m.startswith(module + "."))]
    for modname in candidates:
        mod = sys.modules.get(modname)
        if mod is None or getattr(mod, name, _MISSING) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except PycodeError:
            continue
        if ("", name) in docs:
            return " ".join(line.strip() for line in docs[("", name)] if line.strip())
    return ""


def _summary(module: str, name: str, obj: Any) -> str:
    if _kind(obj) == "data":
        text = _attribute_doc(module, name, obj)
        return text or f"``{name}`` = ``{reprlib.repr(obj)}``"
    return _first_paragraph(getattr(obj, "__doc__", None))


def _patched(target: str, text: str, patches: list[tuple[str, str, str]]) -> str:
    """``text`` with the ``anomvae_docstring_patches`` of ``target`` applied (the
    summary tables show first paragraphs, which the autodoc hook never sees)."""
    for name, old, new in patches:
        if target == name or target.endswith("." + name):
            text = text.replace(old, new)
    return text


def _module_page(
    module: str, names: list[str], mod: Any, patches: list[tuple[str, str, str]]
) -> str:
    lines = [
        _title(module),
        f".. automodule:: {module}",
        "   :no-members:",
        "",
        f".. currentmodule:: {module}",
        "",
        ".. list-table::",
        "   :class: anomvae-api-summary",
        "   :widths: 30 70",
        "",
    ]
    for name in names:
        obj = getattr(mod, name)
        summary = _patched(f"{module}.{name}", _summary(module, name, obj), patches)
        lines += [f"   * - :py:obj:`{name}`", f"     - {summary}".rstrip()]
    lines += [
        "",
        ".. toctree::",
        "   :hidden:",
        "",
        *(f"   {module}.{name}" for name in names),
    ]
    return "\n".join(lines) + "\n"


def generate_api(
    modules: list[str],
    written: set[Path],
    patches: list[tuple[str, str, str]] | None = None,
) -> list[str]:
    """One page per module in ``modules`` and per name in its ``__all__``."""
    pages = []
    for module in modules:
        try:
            mod = importlib.import_module(module)
        except ImportError as err:
            raise ExtensionError(
                f"anomvae_api_modules in docs/conf.py lists {module}, which cannot be "
                f"imported ({err}); update the list when a module moves"
            ) from err
        names = list(getattr(mod, "__all__", None) or [])
        if not names:
            raise ExtensionError(
                f"{module} has no __all__; the API reference documents __all__"
            )
        for name in names:
            obj = getattr(mod, name)
            _write(
                API_OUT / f"{module}.{name}.rst",
                _object_page(module, name, obj),
                written,
            )
        _write(
            API_OUT / f"{module}.rst",
            _module_page(module, names, mod, patches or []),
            written,
        )
        pages.append(f"generated/{module}")
    # The API index's toctree lists these pages; keep it in the order of conf.py.
    toc = ["```{toctree}", ":maxdepth: 1", "", *pages, "```", ""]
    _write(INCLUDE_OUT / "api_toc.md", "\n".join(toc), written)
    return pages


# --------------------------------------------------------------------- notebooks


def copy_notebooks(written: set[Path]) -> None:
    src = ROOT / "notebooks"
    for path in sorted(src.glob("*.ipynb")):
        _copy(path, NOTEBOOKS_OUT / path.name, written)
    readme = (src / "README.md").read_text(encoding="utf-8")
    toc = [
        "",
        "```{toctree}",
        ":hidden:",
        "",
        *(p.stem for p in sorted(src.glob("*.ipynb"))),
        "```",
    ]
    _write(
        NOTEBOOKS_OUT / "index.md",
        readme.rstrip("\n") + "\n" + "\n".join(toc) + "\n",
        written,
    )


# -------------------------------------------------------------------- benchmarks

_LINK = re.compile(r"\]\(benchmarks/results/([^)\s]+)\)")


def _for_include(text: str, prefix: str) -> str:
    """Make a README section includable under a ``##`` heading of the guide.

    Links written relative to the repository root (``benchmarks/results/x``)
    point at the pages copied into ``docs/benchmarks/results/``. The section's
    own first heading is dropped (the including page has its own) and the others
    move up one level (the section starts at ``###`` in the README).
    """
    text = _LINK.sub(lambda m: f"]({prefix}{m.group(1)})", text)
    out = []
    first = True
    for line in text.splitlines():
        m = re.match(r"^(#+) ", line)
        if m and first:
            first = False
            continue
        if m:
            line = "#" * max(3, len(m.group(1)) - 1) + line[len(m.group(1)) :]
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def copy_benchmarks(written: set[Path]) -> None:
    src = ROOT / "benchmarks" / "results"
    for sub in ("", "heldout"):
        folder = src / sub if sub else src
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            rel = path.relative_to(src)
            if path.name == "readme_section.md":
                name = "heldout" if sub else "quick"
                text = _for_include(
                    path.read_text(encoding="utf-8"), "../benchmarks/results/"
                )
                _write(INCLUDE_OUT / f"benchmark_{name}.md", text, written)
            elif path.suffix in (".md", ".png"):
                _copy(path, BENCH_OUT / rel, written)


# ------------------------------------------------------------------------- math


# Commands docutils' converter does not know, and what MathML needs instead
# (sizes of delimiters are left to the browser).
_TEX_SUBSTITUTES = [
    (r"\\dots\b", r"\\ldots"),
    (r"\\[Bb]ig{1,2}[lr]?(?![a-zA-Z])", ""),
]


def _mathml(latex: str, block: bool) -> str:
    """LaTeX to MathML with docutils' converter: rendered by the browser, offline.

    MathJax would be fetched from a CDN by every reader (and not at all offline);
    browsers render MathML Core natively.
    """
    for tex, simpler in _TEX_SUBSTITUTES:
        latex = re.sub(tex, simpler, latex)
    mathml = tex2mathml(latex.strip(), as_block=block)
    return mathml.replace("\\_", "_")


def _visit_math(self: Any, node: Any) -> None:
    try:
        self.body.append(_mathml(node.astext(), block=False))
    except Exception as err:  # docutils raises SyntaxError and others
        logger.warning(
            "math not converted to MathML (%s): %s", err, node.astext(), location=node
        )
        self.body.append(f"<code>{self.encode(node.astext())}</code>")
    raise nodes.SkipNode


def _visit_displaymath(self: Any, node: Any) -> None:
    latex = node.astext()
    try:
        html = _mathml(latex, block=True)
    except Exception as err:
        logger.warning(
            "math not converted to MathML (%s): %s", err, latex, location=node
        )
        html = f"<pre>{self.encode(latex)}</pre>"
    self.body.append(f'<div class="math-wrapper">{html}</div>')
    raise nodes.SkipNode


# ---------------------------------------------------------------- autodoc hooks


def _defining_module(obj: Any) -> str | None:
    target = obj.fget if isinstance(obj, property) else obj
    target = getattr(target, "__func__", target)
    module = getattr(target, "__module__", None)
    if module is None:
        module = getattr(getattr(target, "__objclass__", None), "__module__", None)
    return module if isinstance(module, str) else None


def _is_anomvae(module: str | None) -> bool:
    return module is not None and (module == "anomvae" or module.startswith("anomvae."))


def skip_foreign_member(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    """Leave out members inherited from scikit-learn, torch, PyOD or builtins.

    A class page lists anomvae's own methods, including those inherited from
    anomvae's private base classes, but not ``get_params``, ``set_output``,
    ``dict.keys`` and the like, which are documented by their own projects.
    """
    module = _defining_module(obj)
    if module is not None and not _is_anomvae(module):
        return True
    return None


def public_bases(
    app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]
) -> None:
    """Show bases a reader can look up: anomvae's private classes give way to theirs.

    ``VAEDetector(BaseAutoencoderDetector)`` shows the scikit-learn classes that
    ``BaseAutoencoderDetector`` derives from instead of the private class.
    """
    public = {
        n
        for m in app.config.anomvae_api_modules
        for n in getattr(sys.modules.get(m), "__all__", ())
    }

    def visible(base: Any) -> list[Any]:
        if (
            not _is_anomvae(getattr(base, "__module__", None))
            or base.__name__ in public
        ):
            return [base]
        return [b for parent in base.__bases__ for b in visible(parent)]

    shown: list[Any] = []
    for base in bases:
        for b in visible(base):
            if b not in shown and b is not object:
                shown.append(b)
    bases[:] = shown or [object]


# --------------------------------------------------------- cross-reference hooks


def _exists(dotted: str) -> bool:
    """Whether ``dotted`` names an anomvae module, or an attribute of one.

    Class attributes count when declared (annotations, dataclass fields), so a
    reference to an instance attribute that a docstring describes counts too.
    """
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        module = sys.modules.get(name)
        if module is None and _is_anomvae(name):
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            if spec is not None and i == len(parts):
                return True
        if module is None:
            continue
        obj: Any = module
        for part in parts[i:]:
            declared = _declared_attributes(obj) if inspect.isclass(obj) else set()
            value = getattr(obj, part, _MISSING)
            if value is _MISSING and part in declared:
                return True
            if value is _MISSING:
                return False
            obj = value
        return True
    return False


def _declared_attributes(cls: type) -> set[str]:
    """Annotated class attributes and those in the docstring's Attributes section."""
    names = set(getattr(cls, "__annotations__", {}))
    try:
        section = NumpyDocString(inspect.getdoc(cls) or "")["Attributes"]
    except Exception:  # a docstring numpydoc cannot parse declares nothing
        section = []
    for item in section:
        names.update(n.strip() for n in item.name.split(","))
    return names


def _anomvae_modules() -> list[str]:
    return sorted(m for m in sys.modules if _is_anomvae(m))


def resolve_short_reference(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve the references docstrings write without their module.

    Docstrings say ``:func:`conformal_threshold``` where the object lives in
    another module. Such a reference links to the one documented object whose
    full name ends with the target (preferring the current module, then the
    top-level ``anomvae`` name). A reference to a name that exists in anomvae but
    is not public (a private helper, an internal module) is shown as code without
    a link. Anything else stays unresolved, and with ``-W -n`` fails the build.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    domain = env.get_domain("py")
    module = node.get("py:module") or ""
    klass = node.get("py:class") or ""
    candidates = [
        name for name in domain.objects if name == target or name.endswith("." + target)
    ]
    if candidates:

        def preference(name: str) -> tuple[int, int, int, str]:
            return (
                not name.startswith(f"{module}.{klass}." if klass else f"{module}."),
                not name.startswith("anomvae.")
                or name.count(".") > 1 + target.count("."),
                len(name),
                name,
            )

        best = min(candidates, key=preference)
        entry = domain.objects[best]
        return make_refnode(
            app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, best
        )
    # Not documented: fine if it exists in anomvae (private or internal names),
    # looked up from the current class and module, then from every anomvae module.
    prefixes = [f"{module}.{klass}" if klass else "", module, *_anomvae_modules()]
    if (target.startswith("anomvae.") and _exists(target)) or any(
        _exists(f"{p}.{target}") for p in prefixes if p
    ):
        return contnode
    return None


# ------------------------------------------------------------ docstring patches


def patch_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Apply ``anomvae_docstring_patches`` before numpydoc reads the docstring.

    Each entry is ``(name, old, new)``: in the docstring of the object documented
    as ``name`` (or any name ending with ``.`` + ``name``), replace the text
    ``old`` by ``new``. It is for docstring bugs in code owned elsewhere, so the
    site is right while the fix waits; fix the source, then delete the entry.
    """
    patches = app.config.anomvae_docstring_patches
    if not patches:
        return
    text = "\n".join(lines)
    changed = False
    for i, (target, old, new) in enumerate(patches):
        if (name == target or name.endswith("." + target)) and old in text:
            text = text.replace(old, new)
            app._anomvae_patched.add(i)  # type: ignore[attr-defined]
            changed = True
    if changed:
        lines[:] = text.split("\n")


def note_full_read(app: Sphinx, env: Any, docnames: list[str]) -> None:
    """Stale patches can only be told apart on a build that reads every page."""
    app._anomvae_full_read = set(docnames) >= set(env.found_docs)  # type: ignore[attr-defined]


def report_patches(app: Sphinx, exception: BaseException | None) -> None:
    if exception is not None:
        return
    for i, (target, old, new) in enumerate(app.config.anomvae_docstring_patches):
        if i in app._anomvae_patched:  # type: ignore[attr-defined]
            logger.info(
                "anomvae_docs: patched the docstring of %s: %r -> %r", target, old, new
            )
        elif getattr(app, "_anomvae_full_read", False):
            logger.warning(
                "anomvae_docstring_patches: %r no longer occurs in %s; remove the entry "
                "from docs/conf.py",
                old,
                target,
            )


# ------------------------------------------------------------------------ setup


def generate(app: Sphinx) -> None:
    written: set[Path] = set()
    generate_api(
        list(app.config.anomvae_api_modules),
        written,
        list(app.config.anomvae_docstring_patches),
    )
    copy_notebooks(written)
    copy_benchmarks(written)
    for folder in (API_OUT, NOTEBOOKS_OUT, BENCH_OUT, INCLUDE_OUT):
        _prune(folder, written)
    logger.info("anomvae_docs: %d generated files up to date", len(written))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_html_math_renderer(
        "mathml", (_visit_math, None), (_visit_displaymath, None)
    )
    app.add_config_value("anomvae_api_modules", [], "env")
    app.add_config_value("anomvae_docstring_patches", [], "env")
    app._anomvae_patched = set()  # type: ignore[attr-defined]
    # Before numpydoc (priority 500), which rewrites the lines into reST.
    app.connect("autodoc-process-docstring", patch_docstring, priority=100)
    app.connect("env-before-read-docs", note_full_read)
    app.connect("build-finished", report_patches)
    app.connect("builder-inited", generate)
    app.connect("autodoc-skip-member", skip_foreign_member)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("missing-reference", resolve_short_reference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
