"""What a feedback page must never show, searched for by the piece, not by the whole.

A leak is seldom a whole file or a whole line: a traceback quotes part of a test, a message carries
a hidden input, a page embeds the start of a file. So the tests that grade a class search each
feedback page for pieces, with the helpers here (shared by tests/test_exercises.py,
tests/test_instructor_flow.py and tests/test_attack_class.py; tests/test_leaks.py shows they find
what is planted):

- The hidden tests' code: the lines between "### BEGIN HIDDEN TESTS" and "### END HIDDEN TESTS"
  of the solution notebook's test cells, whitespace collapsed, string literals and comments cut
  out. Every run of WINDOW characters of it that the released notebook does not also have (nor
  the student's own notebook: their code is theirs to see) must never be shown.
- The hidden tests' literals and prose: every string and comment of MIN_LITERAL characters or
  more (the inputs a test hides, its messages, an f-string's long fixed parts) and every call or
  collection written with literal numbers (`Random(2024)`, `manual_seed(12)`,
  `[(7, 10), (512, 384), (1, 2)]`) that the released notebook does not have. A failing verdict
  names the case it failed on (the word that came out wrong, the seed that gave other pairs) and
  the likely mistake, in words its comments share, by design; so a literal is searched for in the
  feedback of a student who passed every test cell that holds it.
- The instructor's files (/etc/passwd, a solution notebook, the gradebook): their SECRET_PIECE-long
  pieces, one every SECRET_STRIDE, that no public file has and that are not mere padding; any run
  of SECRET_PIECE + SECRET_STRIDE - 1 bytes (or characters) of the file holds one of them.

Only the standard library: notebooks are read as JSON.
"""

from __future__ import annotations

import ast
import html
import io
import json
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

WINDOW = 30  # characters: a run of hidden code this long is a leak
MIN_LITERAL = 6  # characters: a shorter literal ("[CLS]", "bank") says nothing of a hidden test
SECRET_PIECE = 40  # bytes (or characters) of an instructor's file
SECRET_STRIDE = 20
MIN_VARIETY = 8  # distinct bytes a piece of a file needs to be distinctive (not padding)
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
_CUT = "\0"  # stands where a string literal was cut out of the code
_NO_TEXT = re.compile(r"<(script|style)\b.*?</\1\s*>", flags=re.S | re.I)
_TAG = re.compile(r"<[^>]+>")


def normalised(text: str) -> str:
    """`text` with every run of whitespace made one space."""
    return " ".join(text.split())


def shown_text(page: str) -> str:
    """The text of an HTML page as a browser shows it: no script, style or tag (a highlighted
    `<span>f</span><span>(</span>` reads `f(`), entities read, whitespace collapsed."""
    return normalised(html.unescape(_TAG.sub("", _NO_TEXT.sub(" ", page))))


def windows(text, size: int = WINDOW) -> set:
    """Every run of `size` characters (or bytes) of `text`."""
    return {text[i:i + size] for i in range(len(text) - size + 1)}


def held_pieces(content, pieces: set | dict, size: int = SECRET_PIECE) -> set:
    """Which of `pieces` (all `size` long) `content` holds; one pass, without the set of all its
    runs (a page of a flood can be megabytes)."""
    return {content[i:i + size] for i in range(len(content) - size + 1)
            if content[i:i + size] in pieces}


def _read(notebook) -> dict:
    if isinstance(notebook, dict):
        return notebook
    return json.loads(Path(notebook).read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _as_rendered(markdown: str) -> str:
    """Roughly what a page shows of a Markdown cell: its text without the markup (`code`,
    **bold**, | tables |, [links](...), # headings, list marks), tags and entities."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"^\s{0,3}(#+|>|[-*+]|\d+\.)\s+", "", text, flags=re.M)
    text = re.sub(r"^[\s|:-]*-{3,}[\s|:-]*$", "", text, flags=re.M)
    text = re.sub(r"(?<!\w)_(\S[^_]*?)_(?!\w)", r"\1", text)
    for mark in ("`", "*", "|"):
        text = text.replace(mark, " " if mark == "|" else "")
    return html.unescape(_TAG.sub("", text))


def notebook_text(*notebooks) -> str:
    """Every cell's source and every output's text of the notebooks (paths or their JSON), and a
    Markdown cell's text as a page shows it too, whitespace collapsed: what a student can read
    there."""
    parts = []
    for notebook in notebooks:
        for cell in _read(notebook)["cells"]:
            parts.append(_source(cell))
            if cell.get("cell_type") == "markdown":
                parts.append(_as_rendered(_source(cell)))
            for output in cell.get("outputs", []):
                for value in [output.get("text", ""), *output.get("data", {}).values(),
                              output.get("evalue", ""), *output.get("traceback", [])]:
                    if isinstance(value, str | list):
                        parts.append(value if isinstance(value, str) else "".join(map(str, value)))
    return normalised("\n".join(parts))


def _hidden_lines(source: str) -> list[bool]:
    """For each line of `source` (split at "\\n"): whether it is inside a hidden-test region."""
    inside, flags = False, []
    for line in source.split("\n"):
        if BEGIN in line or END in line:
            inside = BEGIN in line
            flags.append(False)
        else:
            flags.append(inside)
    return flags


def _prose_cut_out(source: str) -> tuple[str, dict[int, str]]:
    """`source` with the characters of each string literal (f-strings whole) and each comment
    replaced by _CUT, its newlines kept so that the lines stay where they were; and the text of
    each comment, by its line's index."""
    starts = [0]
    for line in source.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    chars, comments, fstring_start = list(source), {}, None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        name = tokenize.tok_name[token.type]
        if name == "FSTRING_START" and fstring_start is None:  # Python 3.12's f-string tokens
            fstring_start = token.start
        if name == "COMMENT":
            comments[token.start[0] - 1] = normalised(token.string.lstrip("#"))
        if name in ("STRING", "COMMENT") or (name == "FSTRING_END" and fstring_start is not None):
            (row, col), (end_row, end_col) = fstring_start or token.start, token.end
            fstring_start = None if name == "FSTRING_END" else fstring_start
            for i in range(starts[row - 1] + col, starts[end_row - 1] + end_col):
                if chars[i] != "\n":
                    chars[i] = _CUT
    return "".join(chars), comments


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _numbers_only(node: ast.AST) -> bool:
    """A literal number, or a collection of them (nested or signed): `(7, 10)`, `[-1.0, 2]`."""
    constants = [n for n in ast.walk(node) if isinstance(n, ast.Constant)]
    return (_literal(node) and bool(constants)
            and all(type(n.value) in (int, float) for n in constants))


def _seed_like(call: ast.Call) -> bool:
    """A call of a function, a class, or a method that seeds (`range(300)`, `_draw(7)`,
    `random.Random(2024)`, `torch.Generator().manual_seed(1)`), not of another method
    (`x.transpose(1, 2)`: that is code, searched as code)."""
    function = call.func
    return (isinstance(function, ast.Name)
            or isinstance(function, ast.Attribute)
            and ("seed" in function.attr.lower() or function.attr[:1].isupper()))


def _names_not_inputs(tree: ast.AST) -> set[int]:
    """The string constants that name a key or an attribute (`batch["input_ids"]`,
    `getattr(x, "requires_grad")`), which say nothing of what a test hides."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            names.add(id(node.slice))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
              and len(node.args) >= 2):
            names.add(id(node.args[1]))
    return names


def _literals(source: str, hidden: list[bool]) -> set[str]:
    """What the hidden lines of `source` (a test cell) hold as literals, as written (whitespace
    collapsed): each string; each fixed part of an f-string at least WINDOW long (a shorter one,
    like "positions)", is a scrap of a message); each seeding call with literal numbers; each
    collection of numbers."""
    tree = ast.parse(source)
    names, in_fstring, found = _names_not_inputs(tree), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            in_fstring |= {id(part) for part in node.values}
    in_collection = set()
    for node in ast.walk(tree):  # breadth first: a collection before the collections in it
        if not (hasattr(node, "lineno") and hidden[node.lineno - 1]):
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in names:
            text = normalised(node.value)
            if id(node) not in in_fstring or len(text) >= WINDOW:
                found.add(text)
        elif isinstance(node, ast.Call) and (node.args or node.keywords) and _seed_like(node):
            arguments = [*node.args, *(k.value for k in node.keywords)]
            if all(map(_numbers_only, arguments)):
                call, function = (ast.get_source_segment(source, n) for n in (node, node.func))
                name = node.func.attr if isinstance(node.func, ast.Attribute) else function
                found.add(normalised(name + call[len(function):]))
        elif (isinstance(node, ast.List | ast.Tuple | ast.Set) and id(node) not in in_collection
              and _numbers_only(node)):
            in_collection |= {id(n) for n in ast.walk(node)}  # the largest collection only
            found.add(normalised(ast.get_source_segment(source, node)))
    return found


@dataclass
class HiddenSource:
    """The pieces of one assignment's hidden tests that no released notebook has (see the module
    docstring)."""

    code: set[str] = field(default_factory=set)  # WINDOW-long pieces of code, never to be shown
    # Each string, comment, seeding call or collection of numbers -> the grade_ids of the test
    # cells whose hidden part holds it.
    literals: dict[str, set[str]] = field(default_factory=dict)

    @property
    def fragments(self) -> set[str]:
        return self.code | set(self.literals)

    def leaks(self, page: str, *, theirs: str = "", failed: Iterable[str] = ()) -> list[str]:
        """The pieces of hidden source that `page` (text as `shown_text` gives it) shows: any piece
        of code, and any literal of test cells none of which is in `failed` (grade_ids), except
        what `theirs` (the student's own notebook, as `notebook_text` gives it) has too, and what
        a failed test's literals hold (its verdict may quote them: "pair_layout of 'The quokka
        was unbelievably friendly.'" holds "quokka", an input of another test)."""
        failed = set(failed)
        named = [literal for literal, cells in self.literals.items() if cells & failed]
        found = held_pieces(page, self.code, WINDOW)
        found |= {literal for literal, cells in self.literals.items()
                  if not cells & failed and literal in page}
        return sorted(piece for piece in found if piece not in theirs
                      and not any(piece.strip() in literal for literal in named))


def hidden_source(solutions: Iterable, released: Iterable, public: str = "") -> HiddenSource:
    """The hidden tests of the `solutions` notebooks (paths or JSON) less what the `released`
    notebooks show, and less the code and literals that are `public` anyway (bertlab's own
    source, which a traceback through it quotes and whose messages a verdict prints)."""
    visible, package = notebook_text(*released), normalised(public)
    shown = windows(visible) | windows(package)
    hidden = HiddenSource()
    for notebook in solutions:
        for cell in _read(notebook)["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            source = _source(cell)
            if cell.get("cell_type") != "code" or BEGIN not in source:
                continue
            flags = _hidden_lines(source)
            code, comments = _prose_cut_out(source)
            lines = code.split("\n")
            regions = "\n".join(line if hidden_line else _CUT
                                for line, hidden_line in zip(lines, flags, strict=True))
            for run in normalised(regions.replace(_CUT, f" {_CUT} ")).split(_CUT):
                hidden.code |= windows(run.strip()) - shown
            prose = {text for line, text in comments.items() if flags[line]}
            for literal in _literals(source, flags) | prose:
                # A literal bertlab's source holds too (a default phrase of bertlab.grading's
                # messages, "the expected ones") is the package's to print, not the test's secret.
                if len(literal) >= MIN_LITERAL and literal not in visible and literal not in package:
                    hidden.literals.setdefault(literal, set()).add(grade_id)
    return hidden


def hidden_source_fragments(solutions: Iterable, released: Iterable, public: str = "") -> set[str]:
    """Every piece `hidden_source` would search for: code pieces and literals."""
    return hidden_source(solutions, released, public).fragments


def package_source(folder: Path) -> str:
    """Every line of the Python files under `folder`, one after another (for `public`)."""
    files = sorted(Path(folder).rglob("*.py"))
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def secret_pieces(secret, *public, size: int = SECRET_PIECE, stride: int = SECRET_STRIDE) -> set:
    """The distinctive pieces of `secret` (bytes or str): `size` long, one every `stride`, with
    MIN_VARIETY different characters at least, and in none of the `public` texts."""
    known = set().union(*(windows(text, size) for text in public))
    pieces = (secret[i:i + size] for i in range(0, len(secret) - size + 1, stride))
    return {piece for piece in pieces if len(set(piece)) >= MIN_VARIETY and piece not in known}


def own_notebooks(course: Path, assignment: str, student: str) -> list[Path]:
    """The notebooks `student` handed in that are theirs: regular files (not a link, not a pipe)
    of readable JSON."""
    folder = Path(course) / "grading" / "submitted" / student / assignment
    theirs = []
    for path in sorted(folder.glob("*.ipynb")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            notebook_text(path)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            continue
        theirs.append(path)
    return theirs


def feedback_leaks(course: Path, assignment: str, student: str, hidden: HiddenSource,
                   failed: Iterable[str] = ()) -> list[str]:
    """The pieces of `hidden` that `student`'s feedback pages of `assignment` show (see
    `HiddenSource.leaks`), their own notebooks being theirs to see."""
    pages = sorted((Path(course) / "grading" / "feedback" / student / assignment).glob("*.html"))
    assert pages, f"no feedback for {student}"
    page = " ".join(shown_text(path.read_text(encoding="utf-8")) for path in pages)
    theirs = notebook_text(*own_notebooks(course, assignment, student))
    return hidden.leaks(page, theirs=theirs, failed=failed)


def cell_sources(*notebooks) -> str:
    """Every cell's source of the notebooks, as written (not collapsed)."""
    return "\n".join(_source(cell) for notebook in notebooks for cell in _read(notebook)["cells"])
