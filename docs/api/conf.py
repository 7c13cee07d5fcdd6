"""Sphinx configuration of the nish-jax API reference (``make docs``).

Built offline: no intersphinx (CI reaches package registries only), so references to JAX, Flax
and the standard library render as plain text rather than links.
"""

import inspect
import logging
import os
import sys
import warnings

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer

# The package from this checkout (also installed editable by `make docs`).
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import nish_jax  # noqa: E402

project = "nish-jax"
author = "The nish-jax Authors"
copyright = "The nish-jax Authors"
release = nish_jax.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_autodoc_typehints",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# autodoc: a module page documents the names of its __all__ (imported ones included), in source
# order, so names added to __all__ appear by themselves.
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
# jax.typing.ArrayLike by name rather than as the Union it stands for.
autodoc_type_aliases = {"ArrayLike": "jax.typing.ArrayLike"}
autodoc_preserve_defaults = True  # defaults as written (`act="nish"`), not their repr
autoclass_content = "class"

# Google-style docstrings (Args/Returns/Raises), as jax.nn's.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False  # the return type goes into Returns

# sphinx_autodoc_typehints
typehints_fully_qualified = False
always_document_param_types = False
typehints_defaults = "comma"
typehints_use_rtype = False  # "Returns: Array -- ...", as jax.nn's pages read

# Unresolved cross-references (jax.Array, flax's classes, without intersphinx) are not warnings.
nitpicky = False

# MyST: the usage page (docs/usage.md) is included as it is.
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = f"nish-jax {release}"
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_static_path: list[str] = []

# sphinx-autodoc-typehints calls a Sphinx API that Sphinx 9 deprecates: a Python warning printed
# once per docstring, not a Sphinx warning, about the extension rather than these docs.
warnings.filterwarnings(
    "ignore", message=r".*set_application.* is deprecated", module="sphinx_autodoc_typehints"
)


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    """Leave out a NamedTuple's fields (their docstring is "Alias for field number N"): the
    class docstring's Attributes section describes them, and documenting both would describe
    each field twice (a duplicate object description)."""
    doc = getattr(obj, "__doc__", None) or ""
    if what == "class" and doc.startswith("Alias for field number"):
        return True
    return None


class _ThirdPartyForwardRefs(logging.Filter):
    """Drops sphinx-autodoc-typehints' "Cannot resolve forward reference" warning for optax's
    recursive ``ArrayTree`` alias only: nish_jax.train.TrainState inherits flax's TrainState, whose
    ``opt_state: optax.OptState`` annotation contains ``ForwardRef('ArrayTree')``, resolvable in
    optax's own module only. Every other forward reference that fails still warns."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "name 'ArrayTree' is not defined" not in record.getMessage()


def _source_attr_doc(name: str, obj) -> list[str] | None:
    """The doc comment (``#:``) or docstring of the module-level constant ``name`` in the
    nish_jax module that defines it, found by identity with ``obj``.

    A package's ``__init__`` re-exports constants (``nish_jax.NISH_MINIMUM``,
    ``nish_jax.data.NORMALIZATION``) whose doc stands beside their definition in a submodule.
    autodoc reads attribute docs from the documented module's own source only: ``automodule``
    leaves such a constant out (the pages name them with ``autodata``), and ``autodata`` would
    show ``float``'s or ``tuple``'s docstring instead."""
    for modname in sorted(sys.modules):
        if modname != "nish_jax" and not modname.startswith("nish_jax."):
            continue
        module = sys.modules[modname]
        if getattr(module, name, _MISSING) is not obj:
            continue
        try:
            attr_docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except PycodeError:
            continue
        lines = attr_docs.get(("", name))
        if lines:
            return list(lines)
    return None


_MISSING = object()


def _is_constant(obj) -> bool:
    return not (
        inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj) or callable(obj)
    )


def _constant_docstrings(app, what, name, obj, options, lines):
    """A re-exported constant gets the doc of its definition instead of its type's docstring."""
    if what != "data" or not _is_constant(obj):
        return
    own = lines and "\n".join(lines).strip() != inspect.cleandoc(type(obj).__doc__ or "")
    if own:
        return
    doc = _source_attr_doc(name.rpartition(".")[2], obj)
    if doc:
        lines[:] = doc


def setup(app):
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
    app.connect("autodoc-process-docstring", _constant_docstrings)
    logging.getLogger("sphinx.sphinx_autodoc_typehints").addFilter(_ThirdPartyForwardRefs())
