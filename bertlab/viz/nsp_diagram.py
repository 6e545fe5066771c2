"""Chapter 4's picture of BERT (next sentence prediction), drawn from real tensors. (Being written for #14.)"""


def draw_next_sentence(*args, **kwargs):
    raise NotImplementedError("draw_next_sentence is being written (#14)")
