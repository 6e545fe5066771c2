"""The guard for numbers in prose (issue #22, "numbers that cannot drift").

A number that a chapter's cells compute must reach its prose through MyST-NB's glue
({glue:text}`ch3_perplexity:.1f`), never typed by hand: a typed copy goes stale the day the code
or the checkpoint changes, and nothing says so. This module finds the typed copies. For one chapter
it reads the MyST Markdown source and the notebook MyST-NB executed from it
(`_build/jupyter_execute/book/<chapter>.ipynb`) and reports every number of the prose that also
appears in one of the cells' outputs, with its line and the output it matches.

Usage, after a build (`jupyter-book build .` or `make book`)::

    python tests/prose_numbers.py            # every chapter of _toc.yml, from ./_build
    python tests/prose_numbers.py _build     # the same, naming the build folder
    python tests/prose_numbers.py _build book/03_masked_lm.md   # some chapters only

It prints each chapter's unglued numbers (line, number, matching output) and exits with 1 if there
is any. tests/test_prose_numbers.py runs the same check on the built book.

What is prose. The source is parsed with markdown-it-py and the MyST plugins (mdit_py_plugins), so
these are NOT prose: the YAML front matter, code cells and every other fenced block (```{code-cell},
```bash, ```{literalinclude}, ...), `inline code`, every role's content ({glue:text}`key:.2f`,
{numref}`...`, {cite:t}`...`), $math$ and $$math$$, link targets (the text of a link is prose),
HTML and HTML comments, `(label)=` targets and `%` comments. The bodies of directives that hold
prose (admonitions, figure captions, margins, dropdowns, ...) are parsed as prose, their options
(`:name: ...`) are not.

What is a number. A run of digits not glued to a letter, digit, dot or underscore on its left
(so L6, v2, fp16 and 1.2.3 are not numbers), read as the reader reads it: "8,192" is 8192, "58%"
is 58 (a percentage), "3e-5" is 3e-05. Only numbers of two or more digits, or with a decimal point
or an exponent, count: single digits (3 layers, 2 heads) are too common to mean anything.

When a prose number matches an output number (the outputs' numbers are read the same way, from the
text/plain and stream outputs of every code cell, a figure's "<Figure size ...>" excepted):

- an integer (595, 8,192) matches an output number of exactly that value (595, 595.0);
- a decimal (1.29, 0.27, 3e-5) matches an output number that rounds to it at the prose's precision
  (1.29 matches 1.2913 and 1.2851), provided the prose drops at most two of the output's digits:
  1.29 matches 1.2913, but 1.3 does not match 1.2913. Chapters print tensors with four decimals,
  so nearly any one-decimal number rounds from some entry of some tensor; a copy typed from a
  printed result keeps at least half its digits. A glued value's own output (MyST-NB stores it
  in full, 1.2912873029708862) is the exception: it is the number the prose is about, so any
  rounding of it matches;
- a number in scientific notation (3e-5) matches only an output of the same order of magnitude
  (3e-05, 3.1e-05, 0.00003), since 1e-5 is a tolerance's order of magnitude, not 5.2e-06 rounded;
- a percentage (58%, 58.3%) matches an output percentage by the same rounding rule, and an output
  fraction (0.583) read as 58.3%.

A number that the cells do compute but the prose states as a definition (BERT's 15%, a year, a
section of a paper) goes into ALLOWLIST below, under its chapter, with the reason.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin
from mdit_py_plugins.myst_role import myst_role_plugin

ROOT = Path(__file__).resolve().parents[1]

# Numbers a chapter's prose may type although a cell's output shows the same digits: definitions,
# not results. chapter name -> {number as the prose writes it, without commas ("15%", "8192"): reason}.
# Keep it small: every entry is a number nobody checks.
ALLOWLIST: dict[str, dict[str, str]] = {
    "03_masked_lm": {
        "15%": "BERT's masking rate, the definition the chapter's cells implement and measure",
        "80%": "the 80/10/10 rule's share of [MASK], as Devlin et al. define it",
        "10%": "the 80/10/10 rule's shares of random and unchanged tokens, as defined",
        "1.5%": "10% of 15%, arithmetic on BERT's definitions",
        "3.4": "a section number of Vaswani et al. (2017)",
        "5.7": "the model card's loss of a first attempt whose log is not shipped (no cell has it)",
        "128": "BERT's own sequence length, the paper's (appendix A.2); the course's 128s are glued",
    },
    "01_input_embeddings": {
        "90%": "the share of BERT's steps at 128 tokens, the paper's figure (appendix A.2)",
    },
    "02_contextual_embeddings": {
        "10": "the index of the head the cell is asked to show, not a result",
    },
    "04_next_sentence": {
        "0.1": "short_seq_prob, BERT's setting the sampler is given (and 0.1-0.9 as a band named)",
        "0.9": "the upper edge of the band of unsure probabilities, chosen, not measured",
        "128": "max_seq_len, the pair length the sampler is asked for (BERT's)",
        "50%": "the share of IsNext pairs the sampler is built to draw, as BERT defines the task",
        "0.5": "a coin's probability and the decision threshold, by definition",
        "1.0": "the AUC of a perfect ranking, by definition",
    },
    "05_beyond": {
        "34": "the number of training plays, as the checkpoint's card states it",
        "10%": "the warm-up's share of the steps, a setting the chapter chooses",
        "10": "the mantissa bits of TF32 and fp16, properties of the formats",
        "16": "the width of a 16-bit format, a property of the format",
        "32": "the width of a 32-bit format, a property of the format",
        "1e-4": "an example of an update, not a result",
        "1.0": "where bf16's spacing is measured, the point chosen",
        "256": "BERT's batch size, the paper's setting",
    },
    "06_same_numbers": {
        "10": "an example of a score's size, not a result",
    },
}

# Directives whose body is prose (parsed again as Markdown); every other directive's body is code,
# data or options.
PROSE_DIRECTIVES = {
    "admonition", "attention", "caution", "danger", "error", "hint", "important", "note", "seealso",
    "tip", "warning", "margin", "sidebar", "dropdown", "figure", "epigraph", "pull-quote", "topic",
    "card", "tab-item", "div", "glossary", "list-table", "table",
}

# A number as a reader reads it: thousands separated by commas, a decimal part, an exponent, and a
# percent sign after it. The left guard keeps out L6, v2, fp16, 1.2.3 and the digits inside words.
_NUMBER = re.compile(
    r"(?<![\w.,])"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?![\d])|\d+)"
    r"(?P<fraction>\.\d+)?"
    r"(?P<exponent>[eE][-+−]?\d+)?"
    r"(?![\d]|\.\d)"
    r"(?P<percent>\s?%)?"
)
# In outputs, numbers are read more freely (tensor(1.2913), loss=2.81, [101,2023]): only the
# digits and dots of a longer run (1.2.3, a path's 0002.json) are left out.
_OUTPUT_NUMBER = re.compile(
    r"(?<![\d.])"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?![\d])|\d+)"
    r"(?P<fraction>\.\d+)?"
    r"(?P<exponent>[eE][-+]?\d+)?"
    r"(?![\d]|\.\d)"
    r"(?P<percent>\s?%)?"
)
_FIGURE_REPR = re.compile(r"<Figure size [^>]*>")


@dataclass(frozen=True)
class Number:
    """A number as written: its text, its value, the exponent of its last digit (precision), and
    whether it is a percentage or an integer."""

    text: str
    value: Decimal
    is_integer: bool
    is_percent: bool
    is_scientific: bool = False

    @property
    def precision(self) -> int:
        return self.value.as_tuple().exponent

    def counts(self) -> bool:
        """Two or more digits, or a decimal point, or an exponent."""
        return not self.is_integer or len(self.text.replace(",", "").rstrip("% ")) >= 2


@dataclass(frozen=True)
class Output:
    """One number of one cell's output: where it is, and whether it is a glued value."""

    number: Number
    cell: int  # the cell's index among the notebook's cells
    line: str  # the output's line that holds the number
    glued: bool = False


@dataclass(frozen=True)
class Unglued:
    """A prose number that a cell's output shows: line in the .md source (1-based), the number as
    written, and the output it matches."""

    line: int
    number: str
    output: str
    cell: int

    def __str__(self) -> str:
        return f"line {self.line}: {self.number!r} matches cell {self.cell}'s output {self.output!r}"


def _number(match: re.Match) -> Number | None:
    digits = match["digits"].replace(",", "")
    fraction = match["fraction"] or ""
    exponent = (match["exponent"] or "").replace("−", "-")
    try:
        value = Decimal(digits + fraction + exponent)
    except InvalidOperation:
        return None
    text = match.group(0).strip()
    return Number(text=text, value=value, is_integer=not fraction and not exponent,
                  is_percent=bool(match["percent"]), is_scientific=bool(exponent))


def numbers_in(text: str, pattern: re.Pattern = _NUMBER) -> list[Number]:
    """The numbers of a piece of text, in order (all of them, single digits too)."""
    return [n for n in (_number(m) for m in pattern.finditer(text)) if n is not None]


# ---------------------------------------------------------------------------------------------
# Prose: the text a reader reads, with its line in the source


def _parser() -> MarkdownIt:
    return (MarkdownIt("commonmark", {"html": True}).enable("table")
            .use(front_matter_plugin).use(myst_block_plugin).use(myst_role_plugin)
            .use(dollarmath_plugin).use(amsmath_plugin).use(colon_fence_plugin)
            .use(deflist_plugin))


def _directive(info: str) -> str | None:
    """The directive's name of a fence's info string ("{note}" -> "note"), None for plain code."""
    match = re.match(r"\s*\{([^}]+)\}", info)
    return match.group(1).strip() if match else None


def _directive_body(content: str) -> tuple[str, int]:
    """A directive's body without its options (":name: x" lines or a --- YAML block), and how many
    lines those took."""
    lines = content.split("\n")
    skipped = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is not None:
            skipped = end + 1
    else:
        while skipped < len(lines) and re.match(r"\s*:[\w-]+:", lines[skipped]):
            skipped += 1
    return "\n".join(lines[skipped:]), skipped


def prose_pieces(markdown: str, first_line: int = 1) -> list[tuple[int, str]]:
    """The prose of a MyST Markdown text as (line, text) pieces, line 1-based in `markdown` (plus
    `first_line` - 1): everything a reader reads as text, without code, math, roles' contents,
    link targets, HTML and front matter."""
    pieces: list[tuple[int, str]] = []
    for token in _parser().parse(markdown):
        start = (token.map[0] if token.map else 0) + first_line
        if token.type in ("fence", "colon_fence"):
            name = _directive(token.info)
            if name in PROSE_DIRECTIVES:
                # the directive's argument (an admonition's title) is prose too
                argument = token.info.split("}", 1)[1].strip() if "}" in token.info else ""
                if argument:
                    pieces += prose_pieces(argument, start)
                body, skipped = _directive_body(token.content)
                pieces += prose_pieces(body, start + 1 + skipped)
            continue
        if token.type != "inline":
            continue
        line = start
        autolink = False  # <https://...>: the text of the link is its target
        for child in token.children or []:
            if child.type == "link_open":
                autolink = child.markup == "autolink"
            elif child.type == "link_close":
                autolink = False
            elif child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type == "text" and not autolink:
                pieces.append((line, child.content))
            elif child.type in ("code_inline", "math_inline", "math_single", "myst_role"):
                line += child.content.count("\n")  # a multi-line span moves the line on
    return pieces


def prose_numbers(markdown: str) -> list[tuple[int, Number]]:
    """The numbers of the prose that count (two or more digits, or a decimal point), with lines."""
    return [(line, number) for line, text in prose_pieces(markdown)
            for number in numbers_in(text) if number.counts()]


# ---------------------------------------------------------------------------------------------
# Outputs: the numbers the cells computed


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def output_numbers(notebook: dict) -> list[Output]:
    """Every number of the code cells' text outputs (stream, text/plain), glued values marked."""
    found: list[Output] = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            glued = "scrapbook" in output.get("metadata", {})
            if output.get("output_type") == "stream":
                texts = [_text(output.get("text", ""))]
            else:
                data = output.get("data", {})
                texts = [_text(value) for mime, value in data.items() if mime.endswith("text/plain")]
            for text in texts:
                text = _FIGURE_REPR.sub("", text)
                for line in text.splitlines():
                    for number in numbers_in(line, _OUTPUT_NUMBER):
                        found.append(Output(number, index, line.strip()[:160], glued))
    return found


def _rounds_to(output: Decimal, prose: Number) -> bool:
    quantum = Decimal(1).scaleb(prose.precision)
    return any(output.quantize(quantum, rounding=mode) == prose.value
               for mode in (ROUND_HALF_UP, ROUND_HALF_EVEN))


def matches(prose: Number, output: Output) -> bool:
    """Whether a prose number is the same number as an output's (the rules in the docstring)."""
    value = output.number.value
    if prose.is_integer and not prose.is_percent:
        return value == prose.value
    candidates = [output.number]
    if prose.is_percent and not output.number.is_percent and 0 < value <= 1:
        # an output fraction, read as a percentage: 0.583 is 58.3%
        candidates.append(Number(output.number.text, value.scaleb(2), False, True))
    for candidate in candidates:
        dropped = prose.precision - candidate.precision
        if dropped < 0:
            # the output is less precise than the prose: only the same decimal matches (1.5 for
            # 1.50; an output integer, 1, is a count or an index, not the prose's 1.0)
            if not candidate.is_integer and candidate.value == prose.value:
                return True
            continue
        if prose.is_scientific and candidate.value.adjusted() != prose.value.adjusted():
            continue  # 1e-5 is an order of magnitude, not 5.2e-06 rounded
        if (dropped <= 2 or output.glued) and _rounds_to(candidate.value, prose):
            return True
    return False


def unglued_numbers(markdown: str, notebook: dict, allow: dict[str, str] | None = None) -> list[Unglued]:
    """The numbers of the prose of `markdown` that one of `notebook`'s cell outputs shows, less
    those in `allow` (number as written, without commas: "15%", "8192" -> reason)."""
    allow = allow or {}
    outputs = output_numbers(notebook)
    found = []
    for line, number in prose_numbers(markdown):
        if number.text.replace(",", "").replace(" ", "") in allow:
            continue
        match = next((output for output in outputs if matches(number, output)), None)
        if match is not None:
            found.append(Unglued(line, number.text, match.line, match.cell))
    return found


def executed_notebook(path: Path, cache: Path | None = None) -> dict:
    """The executed notebook MyST-NB wrote for a chapter, with its outputs. MyST-NB 1.4 writes a
    chapter it took from the execution cache without outputs (it merges them into a copy and
    writes the original); then they are merged here from the cache, as the build did."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    has_outputs = any(cell.get("outputs") for cell in notebook.get("cells", []))
    if not has_outputs and cache is not None and cache.exists():
        import nbformat
        from jupyter_cache import get_cache

        try:
            _, merged = get_cache(str(cache)).merge_match_into_notebook(nbformat.from_dict(notebook))
        except KeyError:  # not in the cache: the chapter changed since it was executed
            raise RuntimeError(f"{path} has no outputs and its cache entry is stale: build again")
        notebook = json.loads(nbformat.writes(merged))
    # The glued values: MyST-NB takes them out of the cells' outputs into <chapter>.glue.json beside
    # the notebook. They are outputs the prose may quote only through glue, like any other: here
    # they become one more code cell's outputs (still marked as glued).
    glue = path.with_name(path.stem + ".glue.json")
    if glue.exists():
        outputs = list(json.loads(glue.read_text(encoding="utf-8")).values())
        notebook.setdefault("cells", []).append(
            {"cell_type": "code", "source": "# glued values (MyST-NB's .glue.json)", "metadata": {},
             "outputs": outputs})
    return notebook


# ---------------------------------------------------------------------------------------------
# Glue: what a {glue:text} role shows, for tests that put the number back by hand

GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`(?P<key>[^`:]+)(?::(?P<spec>[^`]*))?`")


def glued_values(notebook: dict) -> dict[str, str]:
    """Each glued key's value as MyST-NB stores it (text/plain: the value's repr)."""
    values = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                data = output.get("data", {})
                text = data.get(scrapbook.get("mime_prefix", "") + "text/plain", data.get("text/plain"))
                if text is not None:
                    values[scrapbook["name"]] = _text(text)
    return values


def pasted(value: str, spec: str | None) -> str:
    """What a {glue:text}`key:spec` role shows for a value stored as `value` (MyST-NB formats the
    value the repr stands for)."""
    import ast

    if not spec:
        return value
    try:
        return format(ast.literal_eval(value), spec)
    except (ValueError, SyntaxError, TypeError):
        return value


def check_chapter(source: Path, build: Path) -> list[Unglued]:
    """The unglued numbers of one chapter (book/NN_name.md) against its executed notebook in
    `build` (the _build folder); a chapter that is not a notebook has none."""
    notebook_path = build / "jupyter_execute" / source.parent.name / f"{source.stem}.ipynb"
    markdown = source.read_text(encoding="utf-8")
    if not notebook_path.exists():
        if "```{code-cell}" in markdown:
            raise FileNotFoundError(f"{notebook_path} is missing: build the book first")
        return []
    notebook = executed_notebook(notebook_path, build / ".jupyter_cache")
    return unglued_numbers(markdown, notebook, ALLOWLIST.get(source.stem, {}))


def toc_chapters(root: Path = ROOT) -> list[Path]:
    """The book's pages in reading order, as .md paths."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]] + [chapter["file"] for part in toc.get("parts", [])
                             for chapter in part["chapters"]]
    return [root / f"{page}.md" for page in pages]


def main(argv: list[str]) -> int:
    build = Path(argv[0]) if argv else ROOT / "_build"
    chapters = [Path(arg) for arg in argv[1:]] or toc_chapters()
    total = 0
    for chapter in chapters:
        found = check_chapter(chapter, build)
        total += len(found)
        print(f"{chapter.stem}: {len(found)} unglued")
        for item in found:
            print(f"  {item}")
    if total:
        print(f"\n{total} number(s) typed in prose that a cell computes: glue them "
              "(myst_nb.glue in the cell, {glue:text}`key:fmt` in the prose), or, if a number is a "
              "definition and not a result, list it in ALLOWLIST in tests/prose_numbers.py with "
              "the reason.")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
