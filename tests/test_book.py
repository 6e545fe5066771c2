"""The book cannot drift from the package: every page in _toc.yml exists, and every class or
function it includes with `literalinclude` + `:pyobject:` exists in the named source file.

Fast checks only, no build: `make book` builds and executes the book itself.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from required import require

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.md"))

# ```{literalinclude} ../bertlab/model.py      (or ::: fences), followed by its :option: lines
LITERALINCLUDE = re.compile(r"^(?:`{3,}|:{3,})\{literalinclude\}[ \t]+(?P<path>\S+)[ \t]*\n(?P<options>(?:[ \t]*:[\w-]+:.*\n)*)",
                            re.MULTILINE)
OPTION = re.compile(r"^[ \t]*:(?P<name>[\w-]+):[ \t]*(?P<value>.*?)[ \t]*$", re.MULTILINE)


def toc_files(entry) -> list[str]:
    """Every `root` and `file` named anywhere in a (nested) _toc.yml structure."""
    if isinstance(entry, dict):
        found = [entry[key] for key in ("root", "file") if isinstance(entry.get(key), str)]
        return found + [f for value in entry.values() for f in toc_files(value)]
    if isinstance(entry, list):
        return [f for item in entry for f in toc_files(item)]
    return []


def pyobject_includes() -> list[tuple[Path, Path, str]]:
    """(chapter, included file, object name) for every literalinclude with :pyobject: in book/."""
    found = []
    for chapter in CHAPTERS:
        for match in LITERALINCLUDE.finditer(chapter.read_text(encoding="utf-8")):
            options = {m["name"]: m["value"] for m in OPTION.finditer(match["options"])}
            if "pyobject" in options:
                found.append((chapter, (chapter.parent / match["path"]).resolve(), options["pyobject"]))
    return found


def defines(source: str, dotted_name: str) -> bool:
    """Whether the Python source defines the class or function `dotted_name` ("Class" or
    "Class.method"), the way Sphinx's :pyobject: looks it up: top level first, then nested."""
    body = ast.parse(source).body
    for part in dotted_name.split("."):
        node = next((n for n in body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                     and n.name == part), None)
        if node is None:
            return False
        body = node.body
    return True


def test_every_toc_entry_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = toc_files(toc)
    assert files, "_toc.yml names no pages"
    missing = [f for f in files if not any((ROOT / f).with_suffix(ext).is_file() for ext in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml names pages that do not exist (as .md or .ipynb): {missing}"


def test_every_chapter_is_in_the_toc_and_is_a_myst_notebook():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    listed = {str(Path(f).with_suffix("")) for f in toc_files(toc)}
    for chapter in CHAPTERS:
        name = str(chapter.relative_to(ROOT).with_suffix(""))
        assert name in listed, f"{name}.md is not in _toc.yml, so the book would silently skip it"
        text = chapter.read_text(encoding="utf-8")
        if "```{code-cell}" in text:  # a page with code must declare its kernel (jupytext MyST header)
            header = text.split("---", 2)[1] if text.startswith("---") else ""
            assert "format_name: myst" in header and "name: python3" in header, \
                f"{name}.md has code cells but no jupytext MyST header with kernelspec python3"


def test_literalinclude_targets_exist():
    includes = pyobject_includes()
    assert includes, "no literalinclude with :pyobject: found in book/*.md (has the pattern changed?)"
    for chapter, path, name in includes:
        where = f"{chapter.relative_to(ROOT)} includes :pyobject: {name} from {path}"
        assert path.is_file(), f"{where}, but that file does not exist"
        assert defines(path.read_text(encoding="utf-8"), name), \
            f"{where}, but the file defines no class or function of that name (renamed or moved?)"


def test_defines_finds_nested_and_rejects_missing_objects():
    source = "class A:\n    def f(self):\n        pass\n\ndef g():\n    pass\n"
    assert defines(source, "A") and defines(source, "A.f") and defines(source, "g")
    assert not defines(source, "B") and not defines(source, "A.g") and not defines(source, "f")


def test_import_bertlab_does_not_import_plotting_libraries():
    code = "import sys, bertlab; print(sorted({'matplotlib', 'ipywidgets'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", f"`import bertlab` imported {result.stdout.strip()}"


def test_viz_helpers_draw_and_check_shapes():
    import matplotlib
    matplotlib.use("Agg")
    import torch

    from bertlab import viz

    tokens = ["[CLS]", "hello", "##s", "[SEP]"]
    rows = {"a": torch.randn(4, 8), "b": torch.randn(4, 8)}
    fig = viz.plot_embedding_rows(rows, tokens, dims=6, segment_ids=[0, 0, 1, 1])
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    with pytest.raises(ValueError, match="expected \\(T, H\\)"):
        viz.plot_embedding_rows({"a": torch.randn(3, 8)}, tokens)
    with pytest.raises(ValueError, match="square"):
        viz.plot_similarity_matrix(torch.randn(3, 4))
    table = viz.HTMLTable(["token", "id"], [[["##s"], 1]])
    assert "##s" in table._repr_html_() and "##s" in str(table)
    matplotlib.pyplot.close("all")


def test_embedding_explorer_reacts_to_new_text():
    """The chapter's widget cell is skipped by the book build (it is only live in Jupyter), so
    check here that it builds and that its callback runs on new input, including odd input."""
    require("ipywidgets")
    import matplotlib
    matplotlib.use("Agg")

    import bertlab
    from bertlab import viz

    tokenizer = bertlab.WordPieceTokenizer.default()
    encoder = bertlab.BertModel.from_pretrained()
    widget = viz.embedding_explorer(tokenizer, encoder, "The river bank.", max_tokens=12)
    box_a, box_b = widget.children[:2]
    for a, b in [("I ate 🍕 in Zürich. " * 10, "A second sentence."), ("", ""), ("Quokkas!", "")]:
        box_a.value, box_b.value = a, b  # each change re-runs the callback, which must not raise
    encoding, x = viz.sentence_embeddings(tokenizer, encoder, "I ate 🍕 in Zürich. " * 10, "A second one.",
                                          max_tokens=12)
    assert len(encoding) == 12 and x.shape == (12, encoder.config.hidden_size)
    matplotlib.pyplot.close("all")


def test_attention_helpers_draw_and_check_shapes():
    import matplotlib
    matplotlib.use("Agg")
    import torch

    from bertlab import viz

    tokens = ["[CLS]", "a", "b", "[SEP]"]
    probs = torch.softmax(torch.randn(3, 4, 4), dim=-1)
    fig = viz.plot_attention_heads(probs, tokens, ncols=2)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["head 0", "head 1", "head 2"]
    with pytest.raises(ValueError, match="\\(T, T\\)"):
        viz.plot_attention(probs[0, :3], tokens)
    with pytest.raises(ValueError, match="\\(N, T, T\\)"):
        viz.plot_attention_heads(probs[0], tokens)
    with pytest.raises(ValueError, match="\\(n, 2\\)"):
        viz.plot_projection(torch.randn(4, 3), ["x"] * 4)
    fig = viz.plot_projection(torch.randn(4, 2), ["x", "x", "y", "y"], labels=list("1234"))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["x", "y"]
    fig = viz.plot_by_layer({"a": [1.0, 0.5, 0.2], "b": torch.tensor([0.9, 0.8, 0.7])},
                            styles={"b": {"linestyle": "--"}})
    assert len(fig.axes[0].lines) == 2
    matplotlib.pyplot.close("all")


def test_attention_explorer_draws_the_chosen_layer_and_head(monkeypatch):
    """The chapter-2 widget cell is skipped by the book build, so drive its callback here: every
    change of sentence, layer, head or "all heads" must redraw the right attention probabilities."""
    require("ipywidgets")
    import matplotlib
    matplotlib.use("Agg")
    import torch

    import bertlab
    from bertlab import viz

    drawn = []  # (what was drawn, probabilities, tokens, title), outermost call first

    def recording(kind, draw):
        def wrapper(probs, tokens, **options):
            drawn.append((kind, probs, tokens, options.get("title")))
            return draw(probs, tokens, **options)
        return wrapper

    # Patch where the widget looks the functions up: the module that defines them (viz re-exports them).
    monkeypatch.setattr(viz.attention, "plot_attention", recording("one", viz.plot_attention))
    monkeypatch.setattr(viz.attention, "plot_attention_heads", recording("all", viz.plot_attention_heads))

    tokenizer = bertlab.WordPieceTokenizer.default()
    encoder = bertlab.BertModel.from_pretrained()
    widget = viz.attention_explorer(tokenizer, encoder, "The river bank.", layer=2, head=3, max_tokens=12)
    box = widget.children[0]
    layer_slider, head_slider, all_heads = widget.children[1].children
    assert drawn[0][0] == "one" and drawn[0][3] == "layer 2, head 3"

    layer_slider.value, head_slider.value = 6, 11
    kind, probs, tokens, title = drawn[-1]  # the last redraw, after the head changed
    encoding, expected = viz.sentence_attentions(tokenizer, encoder, "The river bank.", max_tokens=12)
    assert (kind, title, tokens) == ("one", "layer 6, head 11", encoding.tokens)
    assert torch.equal(probs, expected[5, 11])
    assert expected.shape == (6, 12, len(encoding), len(encoding))
    assert torch.allclose(expected.sum(dim=-1), torch.ones(6, 12, len(encoding)), atol=1e-5)

    drawn.clear()
    all_heads.value = True  # the grid draws each head with plot_attention, after the outer call
    assert drawn[0][0] == "all" and drawn[0][3] == "layer 6, all heads"
    assert torch.equal(drawn[0][1], expected[5]) and len(drawn) == 1 + 12
    for text, length in [("I ate 🍕 in Zürich. " * 10, 12), ("", 2), ("Quokkas!", None)]:
        drawn.clear()
        box.value = text  # each change re-runs the callback, which must not raise
        assert drawn[0][0] == "all" and drawn[0][2] == tokenizer.encode(text, max_length=12).tokens
        assert length is None or len(drawn[0][2]) == length  # cut to max_tokens; "" is [CLS] [SEP]
    with pytest.raises(ValueError, match="layer must be in 1..6"):
        viz.attention_explorer(tokenizer, encoder, layer=0)
    matplotlib.pyplot.close("all")


def test_viz_package_keeps_the_names_of_the_old_module():
    """bertlab.viz was one module; split by subject, it must still offer every name it did."""
    from bertlab import viz

    old = ["SPECIAL_TOKENS", "DIVERGING", "token_labels", "HTMLTable", "token_chip", "tokenization_table",
           "encoding_table", "plot_embedding_rows", "plot_similarity_matrix", "plot_values_by_index",
           "sentence_embeddings", "plot_sentence_embeddings", "embedding_explorer", "ATTENTION_CMAP",
           "ATTENTION_GAMMA", "GROUP_COLORS", "GROUP_MARKERS", "plot_attention", "plot_attention_heads",
           "plot_by_layer", "plot_projection", "sentence_attentions", "attention_explorer"]
    assert set(old) <= set(viz.__all__), sorted(set(old) - set(viz.__all__))
    assert [name for name in viz.__all__ if not hasattr(viz, name)] == []


# The widgets of chapters 3 to 5. The book build skips their cells (they are only live in Jupyter),
# so drive their callbacks here, with the shipped checkpoint, and look at what they display.

@pytest.fixture(scope="module")
def shakespeare():
    import bertlab
    return bertlab.shakespeare_bert()  # (BertForPreTraining in eval mode, its tokenizer)


def displayed_figures(monkeypatch) -> list:
    """Record what the widgets pass to IPython's display (they import it when they are built)."""
    require("ipywidgets")
    import IPython.display
    import matplotlib
    matplotlib.use("Agg")
    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    return shown


def bars(fig) -> tuple[list[str], list[float]]:
    """The tick labels and lengths of the horizontal bars of a figure's first axes, top to bottom."""
    ax = fig.axes[0]
    return [t.get_text() for t in ax.get_yticklabels()], [p.get_width() for p in ax.patches]


def test_fill_mask_explorer_hides_the_chosen_word(monkeypatch, capsys, shakespeare):
    import matplotlib.pyplot as plt

    import bertlab
    from bertlab import viz

    shown = displayed_figures(monkeypatch)
    model, tokenizer = shakespeare
    widget = viz.fill_mask_explorer(model, tokenizer, "Good morrow, my lord.", word_index=1, top_k=5)
    box, (choice, k) = widget.children[0], widget.children[1].children
    assert [label for label, _ in choice.options] == ["0: Good", "1: morrow", "2: ,", "3: my", "4: lord", "5: ."]
    expected = bertlab.fill_mask(model, tokenizer, "Good [MASK], my lord.", top_k=5)[0]
    tokens, widths = bars(shown[-1])
    assert shown[-1].axes[0].get_title() == "Good [MASK], my lord."
    assert tokens == [p.token for p in expected] and widths == pytest.approx([p.probability for p in expected])

    choice.value = 3                                   # hide another word
    assert shown[-1].axes[0].get_title() == "Good morrow, [MASK] lord."
    k.value = 3                                        # fewer bars
    assert len(bars(shown[-1])[1]) == 3
    box.value = "Out, damned spot!"                    # a new line keeps the chosen position: word 3
    assert shown[-1].axes[0].get_title() == "Out, damned [MASK]!" and len(bars(shown[-1])[1]) == 3
    assert [label for label, _ in choice.options] == ["0: Out", "1: ,", "2: damned", "3: spot", "4: !"]

    box.value = "Hail, Caesar"                         # a line without a word 3: its last word is hidden
    assert choice.value == 2 and shown[-1].axes[0].get_title() == "Hail, [MASK]"

    n = len(shown)
    for text, message in [("", "Type a line with at least one word."), ("To be or [MASK]", "already contains [MASK]")]:
        box.value = text                               # bad input: a message, no figure, no exception
        assert message in capsys.readouterr().out and len(shown) == n

    with pytest.raises(ValueError, match="word_index must be in 0..2"):
        viz.fill_mask_explorer(model, tokenizer, "Good morrow.", word_index=3)
    with pytest.raises(ValueError, match="beyond the 512 tokens"):
        viz.plot_word_predictions(model, tokenizer, "word " * 600, 599)
    with pytest.raises(ValueError, match="one \\[MASK\\]"):
        viz.plot_fill_mask(bertlab.fill_mask(model, tokenizer, "Good [MASK], my [MASK]."))  # a list per [MASK]
    plt.close("all")


def test_next_sentence_explorer_shows_both_orders(monkeypatch, capsys, shakespeare):
    import matplotlib.pyplot as plt

    import bertlab
    from bertlab import viz

    shown = displayed_figures(monkeypatch)
    model, tokenizer = shakespeare
    a, b = "Is this a dagger which I see before me?", "Come, let me clutch thee."
    widget = viz.next_sentence_explorer(model, tokenizer, a, b)
    box_a, box_b = widget.children[:2]
    labels, widths = bars(shown[-1])
    assert labels[0].startswith("A → B: Is this a dagger") and labels[1].startswith("B → A: Come, let me")
    # the same numbers as bertlab's own P(IsNext), which runs the whole BertForPreTraining
    assert widths == pytest.approx([bertlab.next_sentence_probability(model, tokenizer, a, b),
                                    bertlab.next_sentence_probability(model, tokenizer, b, a)], abs=1e-5)

    box_b.value = "To be, or not to be: that is the question."
    labels, new_widths = bars(shown[-1])
    assert "To be, or not" in labels[0] and new_widths != pytest.approx(widths)
    assert new_widths == pytest.approx(viz.next_sentence_probabilities(
        model, tokenizer, [(a, box_b.value), (box_b.value, a)]).tolist())

    n = len(shown)
    box_a.value = "   "                                # bad input: a message, no figure, no exception
    assert "Type two sentences" in capsys.readouterr().out and len(shown) == n

    model.train()                                      # the probabilities run in eval mode, and leave the mode as it was
    viz.next_sentence_probabilities(model, tokenizer, [(a, b)])
    assert model.training
    model.eval()
    with pytest.raises(ValueError, match="pairs must be a non-empty list"):
        viz.next_sentence_probabilities(model, tokenizer, [a])
    with pytest.raises(ValueError, match="no next-sentence head"):
        viz.next_sentence_explorer(model.bert, tokenizer)
    with pytest.raises(ValueError, match="same length"):
        viz.plot_isnext_bars(["one pair"], [0.5, 0.6], ["A → B"])
    plt.close("all")


def test_genre_explorer_redraws_for_each_passage(monkeypatch, capsys, shakespeare):
    import matplotlib.pyplot as plt
    import torch

    from bertlab import viz
    from bertlab.finetune import load_classifier

    shown = displayed_figures(monkeypatch)
    _, tokenizer = shakespeare
    labels = ["comedies", "roman", "tragedies"]
    classifier = load_classifier("shakespeare-mini", labels, pretrained=True, seed=0)  # a new, untrained head
    widget = viz.genre_explorer(classifier, tokenizer, labels, "Beware the ides of March.")
    box = widget.children[0]

    def drawn(fig):
        ax = fig.axes[0]
        return [t.get_text() for t in ax.get_yticklabels()], [t.get_text() for t in ax.get_xticklabels()], \
            torch.tensor(ax.images[0].get_array().data)

    rows, columns, probs = drawn(shown[-1])
    assert rows == ["Beware the ides of March."] and columns == labels
    expected = viz.genre_probabilities(classifier, tokenizer, ["Beware the ides of March."])   # (1, 3)
    assert torch.allclose(probs, expected) and expected.sum().item() == pytest.approx(1)

    box.value = "Out, damned spot! out, I say!"
    rows, _, new_probs = drawn(shown[-1])
    assert rows == ["Out, damned spot! out, I say!"] and not torch.allclose(new_probs, probs)
    assert torch.allclose(new_probs, viz.genre_probabilities(classifier, tokenizer, [box.value]))

    n = len(shown)
    box.value = "  \n "                                # bad input: a message, no figure, no exception
    assert "Type a passage." in capsys.readouterr().out and len(shown) == n

    classifier.train()                                 # eval mode for the probabilities, then the mode as it was
    viz.genre_probabilities(classifier, tokenizer, ["A passage."])
    assert classifier.training
    with pytest.raises(ValueError, match="3 outputs but 2 labels"):
        viz.genre_explorer(classifier, tokenizer, labels[:2])
    with pytest.raises(ValueError, match="not one string"):
        viz.genre_probabilities(classifier, tokenizer, "A passage.")
    with pytest.raises(ValueError, match="1 row_labels for 2 texts"):
        viz.plot_genre_probabilities(classifier, tokenizer, ["One.", "Two."], labels, row_labels=["one"])
    plt.close("all")


# ------------------------------------------------------------------------------------------------
# The book and the exercises state the same facts
# ------------------------------------------------------------------------------------------------

MASKED_COUNT = r"\lfloor 0.15\,n + 0.5 \rfloor"  # how both write k, the tokens chosen of n maskable ones


def notebook_cells(assignment: str) -> dict[str, str]:
    import json

    nb = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    return {c["metadata"].get("nbgrader", {}).get("grade_id", f"cell {i}"): "".join(c["source"])
            for i, c in enumerate(nb["cells"])}


def test_the_book_and_exercise_3_state_and_compute_the_same_masking_count():
    """Chapter 3 and exercise 3 both say: k = 0.15 n rounded half up (not to even), n the maskable
    tokens, at least one. bertlab computes it, and so does the exercise's own solution."""
    import math
    import random

    import torch

    from bertlab.data import mask_tokens

    chapter = (ROOT / "book" / "03_masked_lm.md").read_text(encoding="utf-8")
    cells = notebook_cells("03_masked_lm")
    for text in (chapter, cells["part1"]):
        assert MASKED_COUNT in text and "half up" in text and "round(4.5) == 4" in text
        assert "round(0.15" not in text
    assert "a sequence of 30 maskable tokens gets 5 predictions" in " ".join(chapter.split())

    solution = {}
    for name in ("setup", "mask_words"):
        exec(compile(cells[name], f"<exercise 3: {name}>", "exec"), solution)
    for n in [*range(0, 131), 150, 170, 509]:
        expected = max(1, math.floor(0.15 * n + 0.5)) if n else 0
        ids = torch.cat([torch.tensor([2]), torch.arange(100, 100 + n), torch.tensor([3])])[None]  # [CLS] n [SEP]
        _, labels = mask_tokens(ids, (ids < 5), vocab_size=1000, mask_token_id=4, generator=torch.Generator())
        tokens = ["[CLS]", *(f"w{i}" for i in range(n)), "[SEP]"]
        _, word_labels = solution["mask_words"](tokens, tokens + ["[MASK]"], random.Random(n))
        assert int((labels != -100).sum()) == expected == sum(label is not None for label in word_labels), n


def test_the_page_that_checks_the_claim_prints_its_line_and_fails_its_build_above_1e_5():
    """The introduction promises the same numbers as transformers and links the page that shows it.
    That page must print one line in the form the rendered-book test parses, and assert the bound
    in the same cell, so that a drift fails the build rather than only showing a larger number."""
    page = (ROOT / "book" / "06_same_numbers.md").read_text(encoding="utf-8")
    printed = 'print(f"largest difference over every output: {largest:.1e}")'
    assert printed in page, f"book/06_same_numbers.md no longer prints `{printed}`"
    cell = page[page.rindex("```{code-cell}", 0, page.index(printed)):]
    cell = cell[:cell.index("\n```", 1)]
    assert re.search(r"^assert largest <= 1e-5\b", cell, re.MULTILINE), \
        "the cell that prints the largest difference must assert it is <= 1e-5"
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    claim = intro.index("same numbers as Hugging Face's `transformers`")
    assert "{doc}`06_same_numbers`" in intro[claim:claim + 200], \
        "the introduction's claim should link the page that checks it"


# A font size written out as a keyword argument (fontsize=7, labelsize=7.5, size=6, ...).
FONT_SIZE = re.compile(r"[(,]\s*(?:fontsize|labelsize|title_fontsize|size)\s*=\s*(\d+(?:\.\d+)?)\b")


def test_no_figure_asks_for_text_smaller_than_8_points():
    """Figures are drawn at 100 dpi and shown at >= 80% of that size at 1280 px (the rendered-book
    test checks the scale), so 8-pt text is at least 8.9 px on screen; smaller text is not legible."""
    sources = sorted((ROOT / "bertlab" / "viz").glob("*.py")) + CHAPTERS
    small = [f"{path.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}: {match.group(0).strip('(, ')}"
             for path in sources for text in [path.read_text(encoding="utf-8")]
             for match in FONT_SIZE.finditer(text) if float(match.group(1)) < 8]
    assert not small, "text below 8 pt in the book's figures:\n" + "\n".join(small)
