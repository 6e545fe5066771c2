"""A Sphinx extension of the book's own: each <script> once per page.

With Sphinx 7.4, the inline scripts that sphinx-thebe and sphinx-togglebutton register reach the
page twice (once with filename None, once with ""), and the second `const THEBE_JS_URL = ...` is a JavaScript error in every reader's
console ("Identifier 'THEBE_JS_URL' has already been declared"). This drops the repeats, keeping
the first of each, just before the page is written.
"""


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # An inline script is registered once with filename None and once with "": the same script.
        filename = getattr(script, "filename", script) or ""
        key = (filename, tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    # After every other handler has added its scripts.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
