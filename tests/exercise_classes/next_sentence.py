"""Exercise 4, next sentence prediction: one realistic mistake per part."""

from . import Assignment, Mistake

ASSIGNMENT = Assignment(
    "04_next_sentence",
    points={"test_sample_pair_is_next": 1, "test_sample_pair_not_next": 1,
            "test_sample_pair_balanced_and_seeded": 1, "test_nsp_head_shapes": 1,
            "test_pooler_worked_example": 1, "test_nsp_head_matches_bertlab": 1,
            "test_mlm_loss_worked_example": 1, "test_nsp_loss_worked_example": 1,
            "test_pretraining_loss_matches_bertlab": 2},
    mistakes=[
        # B of a NotNext pair taken from anywhere in A's own document: still half and half, still
        # reproducible, and the IsNext pairs are right; only the NotNext property breaks.
        Mistake("not_next_from_same_document", "sample_pair",
                replace="rng.choice(documents[other])",
                by="rng.choice(sentences)",
                scores={"test_sample_pair_not_next": 0},
                feedback="NotNext drawn from the same document as A"),
        # Mean pooling over all tokens (as sentence-transformers do) instead of BERT's [CLS] vector:
        # the shapes and parameter names are right, the values are not.
        Mistake("pools_the_mean_of_the_tokens", "nsp_head",
                replace="hidden[:, 0]",
                by="hidden.mean(dim=1)",
                scores={"test_pooler_worked_example": 0, "test_nsp_head_matches_bertlab": 0},
                feedback="the mean over the tokens instead of the [CLS] vector"),
        # Both terms right, combined as an average: the worked examples of the terms pass, the total does not.
        Mistake("averages_the_two_losses", "pretraining_loss",
                replace="loss = mlm_loss + nsp_loss",
                by="loss = (mlm_loss + nsp_loss) / 2",
                scores={"test_pretraining_loss_matches_bertlab": 0},
                feedback="the mean of the MLM and NSP losses instead of their sum"),
    ])
