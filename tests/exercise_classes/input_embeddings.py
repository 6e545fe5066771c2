"""Exercise 1, input embeddings: one realistic mistake per part."""

from . import Assignment, Mistake

ASSIGNMENT = Assignment(
    "01_input_embeddings",
    points={"test_wordpiece_worked_examples": 1, "test_wordpiece_unknown_words": 1,
            "test_wordpiece_matches_bertlab": 1, "test_pair_layout_tokens": 1,
            "test_pair_layout_segment_ids": 1, "test_pair_layout_matches_bertlab": 1,
            "test_embeddings_shapes": 1, "test_embeddings_match_bertlab": 2, "test_embeddings_dropout": 1},
    mistakes=[
        Mistake("forgets_hashes", "wordpiece",
                replace='piece = word[start:end] if start == 0 else "##" + word[start:end]',
                by="piece = word[start:end]",
                scores={"test_wordpiece_worked_examples": 0, "test_wordpiece_matches_bertlab": 0},
                feedback="continuation pieces looked up without their '##'"),
        Mistake("sep_in_segment_b", "pair_layout",
                replace="segments = [0] * len(tokens)",
                by="segments = [0] * (len(tokens) - 1) + [1]",
                scores={"test_pair_layout_segment_ids": 0, "test_pair_layout_matches_bertlab": 0},
                feedback="the first [SEP] was given segment 1"),
        Mistake("layernorm_before_sum", "embeddings",
                replace="x = self.token(input_ids) + self.segment(token_type_ids) + self.position(positions)"
                        "  # (B, T, H)\n        return self.dropout(self.norm(x))",
                by="x = self.norm(self.token(input_ids)) + self.norm(self.segment(token_type_ids))"
                   " + self.norm(self.position(positions))\n        return self.dropout(x)",
                scores={"test_embeddings_match_bertlab": 0},
                feedback="LayerNorm applied to each embedding before the sum"),
        # Not a mistake: a right answer whose code writes to stderr and raises a warning each call, as
        # libraries do. nbgrader alone would score every test cell that calls it 0; it keeps full marks.
        Mistake("right_but_noisy", "wordpiece",
                replace="if len(word) > max_chars:",
                by='import sys, warnings\n    print("a library writes to stderr", file=sys.stderr)\n'
                   '    warnings.warn("a library warns")\n    if len(word) > max_chars:',
                scores={},
                feedback="[stderr] a library writes to stderr"),
    ])
