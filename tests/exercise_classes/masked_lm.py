"""Exercise 3, masked language modelling: one realistic mistake per part."""

from . import Assignment, Mistake

ASSIGNMENT = Assignment(
    "03_masked_lm",
    points={"test_mask_tokens_labels": 1, "test_mask_tokens_count": 1, "test_mask_tokens_seeded": 1,
            "test_mask_tokens_split": 1, "test_mlm_head_parameters": 1, "test_mlm_head_tied": 1,
            "test_mlm_head_matches_bertlab": 1, "test_mlm_loss_small_case": 1,
            "test_mlm_loss_ignores_unlabelled": 1, "test_mlm_loss_matches_bertlab": 1},
    mistakes=[
        # The random branch runs to the end, so no chosen token is left unchanged: 80/20, not 80/10/10.
        Mistake("split_80_20", "mask_tokens",
                replace="to_random = chosen & (u >= 0.8) & (u < 0.9)",
                by="to_random = chosen & (u >= 0.8)",
                scores={"test_mask_tokens_split": 0},
                feedback="an 80/20 split"),
        # LayerNorm and GELU swapped in the head's transform.
        Mistake("layernorm_before_gelu", "mlm_head",
                replace="h = self.norm(F.gelu(self.dense(hidden)))",
                by="h = F.gelu(self.norm(self.dense(hidden)))",
                scores={"test_mlm_head_matches_bertlab": 0},
                feedback="LayerNorm before GELU"),
        # The -100 labels are clamped to a valid index, and then not left out: the loss over all positions.
        Mistake("loss_over_all_positions", "mlm_loss",
                replace="return nll[labelled].mean()",
                by="return nll.mean()",
                scores={"test_mlm_loss_ignores_unlabelled": 0, "test_mlm_loss_matches_bertlab": 0},
                feedback="the loss is averaged over all positions, unlabelled ones (label -100) included"),
    ])
