"""Exercise 2, contextual embeddings: one realistic mistake per part."""

from . import Assignment, Mistake

ASSIGNMENT = Assignment(
    "02_contextual_embeddings",
    points={"test_attention_worked_example": 1, "test_attention_padding_mask": 1,
            "test_attention_matches_bertlab": 1, "test_self_attention_shapes": 1,
            "test_self_attention_heads_independent": 1, "test_self_attention_matches_bertlab": 1,
            "test_encoder_layer_shapes": 1, "test_encoder_layer_post_ln": 1,
            "test_encoder_layer_matches_bertlab": 1, "test_cosine_worked_examples": 1,
            "test_word_vector_matches_bertlab": 1},
    mistakes=[
        # The mask lined up with the queries' axis: the padding rows are masked, the padding keys not.
        Mistake("masks_queries", "scaled_dot_product_attention",
                replace="padding_keys = attention_mask[:, None, None, :] == 0",
                by="padding_keys = attention_mask[:, None, :, None] == 0",
                scores={"test_attention_padding_mask": 0, "test_attention_matches_bertlab": 0},
                feedback="the mask applied to the queries (rows of the score matrix) instead of the keys"),
        # Heads cut with one view to (B, N, T, D): the right shape, but tokens and heads mixed.
        Mistake("split_heads_without_transpose", "multi_head_attention",
                replace="y.view(B, T, self.num_heads, self.head_size).transpose(1, 2)",
                by="y.view(B, self.num_heads, T, self.head_size)",
                scores={"test_self_attention_heads_independent": 0, "test_self_attention_matches_bertlab": 0},
                feedback="heads split with a plain view to (B, N, T, D)"),
        # Pre-LN, as in GPT-2 and many later models: LayerNorm at the input of each sublayer.
        Mistake("pre_ln", "encoder_layer",
                replace="attended, _ = self.attention(x, attention_mask)\n"
                        "        x = self.attention_norm(x + self.dropout(attended))  # residual sum, then LayerNorm\n"
                        "        h = self.ffn_out(F.gelu(self.ffn_in(x)))  # (B, T, H) -> (B, T, 4H) -> (B, T, H)\n"
                        "        return self.ffn_norm(x + self.dropout(h))",
                by="attended, _ = self.attention(self.attention_norm(x), attention_mask)\n"
                   "        x = x + self.dropout(attended)  # LayerNorm first, then the sublayer and the sum\n"
                   "        h = self.ffn_out(F.gelu(self.ffn_in(self.ffn_norm(x))))\n"
                   "        return x + self.dropout(h)",
                scores={"test_encoder_layer_post_ln": 0, "test_encoder_layer_matches_bertlab": 0},
                feedback="pre-LN (LayerNorm before each sublayer"),
        # The dot product of the two vectors, not divided by their lengths.
        Mistake("dot_product", "contextual_vectors",
                replace="return (torch.dot(a, b) / (a.norm() * b.norm())).item()",
                by="return torch.dot(a, b).item()",
                scores={"test_cosine_worked_examples": 0},
                feedback="the dot product a . b, not divided by the lengths |a| |b|"),
    ])
