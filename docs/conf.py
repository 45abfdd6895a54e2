"""Sphinx configuration: the documentation site built from docs/ (MyST Markdown, autodoc, notebooks)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

project = "catapult_nb"
author = "the catapult_nb developers"
copyright = "2026, the catapult_nb developers"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
]

# The notebooks are stored without outputs and executed by the test suite; here they are rendered as
# they are stored (code and text), so building the site needs no kernel and no simulator.
nb_execution_mode = "off"
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
autosummary_generate = True  # docs/_api/: one page per module, made at build time
autosummary_ignore_module_all = True
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "notebooks/README.md", "notebooks/data"]

html_theme = "furo"
html_title = "catapult_nb"
html_static_path: list[str] = []
templates_path = ["_templates"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Each name is documented once, where it is defined (packages re-export it: their pages link there).
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True, "ignore-module-all": True}
autoclass_content = "class"
# A subclass of a third-party class (a matplotlib Figure) documents only what it adds.
autodoc_inherit_docstrings = False

# A dangling cross-reference fails the build (`make docs` runs with -W -n). Names from third-party
# libraries cannot be resolved offline (no intersphinx inventories), so they alone are let through.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"~?(.*\.)?_[A-Za-z].*"),  # private helpers (and type variables) are not documented API
    (r"py:(class|mod)", r"(IPython|argparse|ipykernel|traitlets|ctypes|conf|w|defusedxml)(\..*)?"),
    (r"py:class", r"catapult_nb(\.\w+)*\.T"),  # type variables
    (r"py:class", r"method|Figure|Axes"),  # a bound method's type; matplotlib's figures
    (r"py:.*", r"(pd|pandas|np|numpy|requests|aiohttp|web|ipywidgets|widgets|matplotlib|plt|pyarrow|pa"
               r"|duckdb|pyngrok|tqdm|urllib3|multidict|yarl|pytest|_pytest|sqlite3|asyncio|threading"
               r"|concurrent|collections|typing|typing_extensions|os|pathlib|datetime|io|enum|re|random"
               r"|socket|subprocess|types|email|http|json|csv|logging|queue|contextlib|numbers"
               r"|dataclasses|abc|builtins|xml|ET)(\..*)?"),
]


_documented: list[str] = []  # the names the build documents, for _canonical


def _canonical(target: str) -> str | None:
    """The dotted name where ``target`` is defined, when it names it through a package's re-export
    (``catapult_nb.store.EventStore.to_csv`` → ``catapult_nb.store.store.EventStore.to_csv``)."""
    import importlib

    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        rest = parts[cut:]
        try:
            obj = getattr(obj, rest[0])
        except AttributeError:
            return None
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if not (module and qualname):  # data: the documented name, under this package, of this very object
            prefix, last = ".".join(parts[:cut]) + ".", rest[0]
            same = [name for name in _documented if name.startswith(prefix) and name.endswith("." + last)
                    and _lookup(name) is obj]
            return same[0] if len(same) == 1 and not rest[1:] else None
        return ".".join([module, qualname, *rest[1:]])
    return None


def _through_classes(objects, target: str, node) -> list[str]:  # type: ignore[no-untyped-def]
    """``EventStore.to_dataframe``, or ``to_dataframe`` inside ``EventStore``'s docstrings: the member
    where the class's method resolution order finds it (a base class may define it)."""
    import importlib
    import inspect

    head, _, attr = target.rpartition(".")
    if head:
        classes = [name for name in objects if (name == head or name.endswith("." + head))
                   and name.startswith("catapult_nb.") and objects[name].objtype in ("class", "exception")]
    else:
        classes = [f"{node.get('py:module')}.{node.get('py:class')}"] if node.get("py:class") else []
    if len(classes) != 1:
        return []
    module_name, _, qualname = classes[0].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), qualname)
    except (ImportError, AttributeError):
        return []
    for klass in getattr(cls, "__mro__", ()):
        if attr in vars(klass) or attr in getattr(klass, "__annotations__", {}):
            name = f"{klass.__module__}.{klass.__qualname__}.{attr}"
            # an attribute with no page of its own (set in __init__) links to its class
            owner = f"{klass.__module__}.{klass.__qualname__}"
            return [name] if name in objects else [owner] if owner in objects else []
    try:  # an attribute the class sets in __init__ has no page: link to the class
        sets_it = f"self.{attr} " in inspect.getsource(cls.__init__)
    except (TypeError, OSError):
        sets_it = False
    return [classes[0]] if sets_it and classes[0] in objects else []


def _as_python_reads_it(objects, target: str, node) -> list[str]:  # type: ignore[no-untyped-def]
    """``target`` looked up in the namespace of the module whose docstring names it, as Python would:
    ``gather`` in a module that imported it, ``draws.Answers`` where ``flow_draws`` is imported as
    ``draws``."""
    import importlib
    import inspect

    module_name = node.get("py:module")
    if not module_name:
        return []
    try:
        obj = importlib.import_module(module_name)
    except ImportError:
        return []
    parts = target.split(".")
    for index, part in enumerate(parts):
        if not hasattr(obj, part):
            return []
        obj = getattr(obj, part)
        if inspect.ismodule(obj):
            name = ".".join([obj.__name__, *parts[index + 1:]])
            if name in objects:
                return [name]
            continue
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if module and qualname:
            name = ".".join([module, qualname, *parts[index + 1:]])
            return [name] if name in objects else []
        # data a package re-exports: the one documented name of a submodule holding this very object
        owner = ".".join(parts[:index])
        package = importlib.import_module(module_name) if not owner else None
        holder = getattr(package, owner, None) if package is not None else None
        prefix = getattr(holder, "__name__", "") + "." if inspect.ismodule(holder) else ""
        if not prefix:
            try:
                prefix = _module_of(module_name, parts[:index]) + "."
            except (ImportError, AttributeError):
                return []
        same = [name for name in objects if name.startswith(prefix) and name.endswith("." + part)
                and _lookup(name) is obj]
        return same if len(same) == 1 else []
    return []


def _module_of(module_name: str, path: list[str]) -> str:
    """The dotted name of the module reached by ``path`` from module ``module_name``'s namespace."""
    import importlib

    obj = importlib.import_module(module_name)
    for part in path:
        obj = getattr(obj, part)
    return str(obj.__name__)


def _lookup(name: str) -> object:
    """The object a documented dotted name stands for (None when it cannot be imported)."""
    import importlib

    module_name, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr, None)
    except ImportError:
        return None


def _resolve_by_suffix(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve a Python reference the way a reader of the docstring means it: a name given through a
    package's re-export goes to where it is defined, and a short name (``GatherOptions``,
    ``analysis.gather_table``, ``to_dataframe`` inside a class) to the one object of the package whose
    dotted name ends with it, the current class's first. Several candidates stay unresolved, so
    nitpicky still reports them."""
    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    objects = env.get_domain("py").objects
    _documented[:] = objects
    found: list[str] = []
    if target.startswith("catapult_nb."):
        canonical = _canonical(target)
        found = [canonical] if canonical in objects else []
        if canonical and not found:  # a member a base class defines
            found = _through_classes(objects, canonical, {})
    if not found:
        found = _as_python_reads_it(objects, target, node)
    if not found:
        found = [name for name in objects if name.startswith("catapult_nb.") and name.endswith("." + target)]
    if len(found) > 1:
        here = ".".join(part for part in (node.get("py:module"), node.get("py:class")) if part)
        found = [name for name in found if here and name.startswith(here + ".")] or [
            name for name in found if not objects[name].aliased]
    if not found:
        found = _through_classes(objects, target, node)
    if len(found) != 1:
        return None
    entry = objects[found[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found[0])


def _skip_foreign_members(app, what, name, obj, skip, options):  # type: ignore[no-untyped-def]
    """A class built on a third-party one (a matplotlib Figure) shows only the members it defines."""
    if what in ("class", "exception") and callable(obj):
        module = getattr(obj, "__module__", None) or ""
        if module and not module.startswith("catapult_nb"):
            return True
    return None


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("missing-reference", _resolve_by_suffix)
    app.connect("autodoc-skip-member", _skip_foreign_members)
