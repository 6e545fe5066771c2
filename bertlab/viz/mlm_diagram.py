"""Chapter 3's picture of BERT (masked language modelling), drawn from real tensors. (Being written for #14.)"""


def draw_masked_lm(*args, **kwargs):
    raise NotImplementedError("draw_masked_lm is being written (#14)")
