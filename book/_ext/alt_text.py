"""A Sphinx extension of the book's own: every figure's image says what it shows.

A figure drawn by a cell (myst-nb's `mystnb: figure:` with a caption) comes out as an <img> whose
alt text is its hashed file name, so a screen reader reads out a hash. This gives each image in a
captioned figure its caption as alt text, once every reference in the caption is resolved.
"""

from docutils import nodes


def alt_from_captions(app, doctree, docname) -> None:
    for figure in doctree.findall(nodes.figure):
        captions = [c for c in figure.children if isinstance(c, nodes.caption)]
        if not captions:
            continue
        text = " ".join(captions[0].astext().split())
        for image in figure.findall(nodes.image):
            if not image.get("alt") or image["alt"] == image.get("uri"):
                image["alt"] = text


def setup(app):
    app.connect("doctree-resolved", alt_from_captions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
