"""Tables for the book: a small HTML table (plain text outside Jupyter) and WordPiece tokens as
coloured chips, for the tokenization and the encoding of a sentence (or pair). No matplotlib."""

from __future__ import annotations

import html
from collections.abc import Sequence

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class HTMLTable:
    """A small table that Jupyter shows as HTML; `str()` gives a plain-text version."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence], caption: str | None = None):
        self.header = list(header)
        self.rows = [list(r) for r in rows]
        self.caption = caption

    @staticmethod
    def _cell_html(cell) -> str:
        if isinstance(cell, (list, tuple)):  # a list of tokens: one chip each
            return " ".join(token_chip(str(t)) for t in cell)
        return html.escape(str(cell))

    def _repr_html_(self) -> str:
        th = "padding:4px 10px;text-align:left;border-bottom:2px solid #999;"
        td = "padding:4px 10px;text-align:left;border-bottom:1px solid #ddd;vertical-align:top;"
        parts = [
            '<div style="overflow-x:auto"><table style="border-collapse:collapse;margin:0.5em 0;">'
        ]
        if self.caption:
            parts.append(
                f'<caption style="caption-side:top;text-align:left;font-weight:bold;padding:4px 0">'
                f"{html.escape(self.caption)}</caption>"
            )
        parts.append(
            "<tr>"
            + "".join(f'<th style="{th}">{html.escape(h)}</th>' for h in self.header)
            + "</tr>"
        )
        for row in self.rows:
            parts.append(
                "<tr>"
                + "".join(f'<td style="{td}">{self._cell_html(c)}</td>' for c in row)
                + "</tr>"
            )
        parts.append("</table></div>")
        return "".join(parts)

    def __str__(self) -> str:
        cells = [
            [" ".join(map(str, c)) if isinstance(c, (list, tuple)) else str(c) for c in row]
            for row in self.rows
        ]
        widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(self.header)]
        lines = ["  ".join(str(h).ljust(w) for h, w in zip(self.header, widths))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
        return ((self.caption + "\n") if self.caption else "") + "\n".join(lines)

    __repr__ = __str__


def token_chip(token: str) -> str:
    """One WordPiece token as a small coloured HTML box: special tokens grey, [UNK] red,
    word-continuation pieces ("##...") blue, word-initial pieces yellow."""
    if token == "[UNK]":
        bg = "#f8c9c4"
    elif token in SPECIAL_TOKENS:
        bg = "#dddddd"
    elif token.startswith("##"):
        bg = "#cfe3f7"
    else:
        bg = "#fbefc5"
    return (
        f'<code style="background:{bg};color:#111;padding:1px 4px;margin:1px;border-radius:3px;'
        f'white-space:nowrap">{html.escape(token)}</code>'
    )


def tokenization_table(tokenizer, sentences: Sequence[str]) -> HTMLTable:
    """Each sentence next to its WordPiece tokens (as coloured chips) and their count."""
    rows = []
    for text in sentences:
        pieces = tokenizer.tokenize(text)
        rows.append([text, pieces, len(pieces)])
    return HTMLTable(["text", "WordPiece tokens", "count"], rows)


def encoding_table(encoding, *, by_token: bool = True) -> HTMLTable:
    """An encoded example (a `bertlab.tokenizer.Encoding`) as a table of position, token, id and
    segment id: one row per token (`by_token=True`), or one row per field (compact, for long
    inputs)."""
    fields = {
        "position": list(range(len(encoding.input_ids))),
        "token": [[t] for t in encoding.tokens],
        "input_id": encoding.input_ids,
        "token_type_id (segment)": encoding.token_type_ids,
    }
    if by_token:
        return HTMLTable(list(fields), [list(r) for r in zip(*fields.values())])
    return HTMLTable(
        [""] + [str(p) for p in fields["position"]],
        [[name] + list(values) for name, values in list(fields.items())[1:]],
    )
