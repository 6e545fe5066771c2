"""The one rule for a student id, and how a name a student chose is shown to a person.

A student id becomes a folder name (grading/submitted/<id>/), part of nbgrader's command line and
glob patterns, a gradebook key and a cell of grades.csv. So it is checked, by this one rule, before
any of those sees it (`make collect` for an LMS's naming of an upload, `make autograde` for every
folder of grading/submitted/, `--student` on a command line):

    1 to 64 characters: ASCII letters, digits, '.', '_', '-' and '@', starting with a letter or
    digit

which keeps out, among others, '*', '?' and '[' (glob patterns: nbgrader would grade
classmates), '-rf' (an option), '..' and '/' (paths), ',' and a leading '=', '+', '-' or '@' (a
spreadsheet's columns and formulas), whitespace, newlines and anything not ASCII. (An id from an
LMS export is the upload's name up to its first '_', so ids collected by `make collect` have none.)
"""

from __future__ import annotations

import os
import re

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
RULE = (
    "1 to 64 characters: ASCII letters, digits, '.', '_', '-' and '@', starting with a letter or "
    "digit"
)


def is_student_id(name) -> bool:
    """Whether `name` (str or bytes) is a student id by the rule above."""
    if isinstance(name, bytes):
        try:
            name = name.decode("ascii")
        except UnicodeDecodeError:
            return False
    return isinstance(name, str) and STUDENT_ID.fullmatch(name) is not None


def check_student_id(name, where: str = "student id") -> str:
    """`name` if it is a student id; otherwise ValueError naming the rule."""
    if not is_student_id(name):
        raise ValueError(f"{shown(name)} is not a {where}: a student id is {RULE}")
    return name


def shown(name, html: bool = False) -> str:
    """A name as a person may safely read it, in one line: quoted, with bytes that are not UTF-8
    and characters that are not printable (control characters, newlines) escaped as Python
    writes them; with `html`, HTML's special characters escaped too (for a note that ends up in a
    notebook's Markdown, and so in a web page). Accepts str (possibly with surrogate escapes, as
    os.listdir gives an undecodable name) or bytes."""
    if isinstance(name, str):
        name = os.fsencode(name)
    text = name.decode("utf-8", errors="backslashreplace")
    text = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    if html:
        for special, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
            text = text.replace(special, entity)
    return f"'{text}'"


def is_showable(name) -> bool:
    """Whether a file name can be shown and written as it is: valid UTF-8, no control
    characters (a newline in a name breaks every line-based listing)."""
    raw = os.fsencode(name) if isinstance(name, str) else name
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() for ch in text)
