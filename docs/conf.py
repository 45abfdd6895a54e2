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
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autoclass_content = "both"

# A dangling cross-reference fails the build (`make docs` runs with -W -n). Names from third-party
# libraries cannot be resolved offline (no intersphinx inventories), so they alone are let through.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(.*\.)?_[A-Za-z].*"),  # private helpers are not part of the documented API
    (r"py:class", r"(IPython|argparse|ipykernel|traitlets)\..*"),
    (r"py:.*", r"(pd|pandas|np|numpy|requests|aiohttp|web|ipywidgets|widgets|matplotlib|plt|pyarrow|pa"
               r"|duckdb|pyngrok|tqdm|urllib3|multidict|yarl|pytest|_pytest|sqlite3|asyncio|threading"
               r"|concurrent|collections|typing|typing_extensions|os|pathlib|datetime|io|enum|re|random"
               r"|socket|subprocess|types|email|http|json|csv|logging|queue|contextlib|numbers"
               r"|dataclasses|abc|builtins)(\..*)?"),
]


def _resolve_by_suffix(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve a short Python reference (``GatherOptions``, ``analysis.gather_table``) to the one object
    of the package whose dotted name ends with it, as a reader of the docstring means it; several
    candidates stay unresolved, so nitpicky still reports them."""
    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    objects = env.get_domain("py").objects
    found = [name for name in objects if name.startswith("catapult_nb.") and name.endswith("." + target)]
    if len(found) > 1:  # prefer where a name is defined over the package that re-exports it
        defined = [name for name in found if not objects[name].aliased]
        found = defined or found
    if len(found) != 1:
        return None
    entry = objects[found[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found[0])


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("missing-reference", _resolve_by_suffix)
