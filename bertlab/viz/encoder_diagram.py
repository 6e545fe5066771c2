"""Chapter 2's picture of BERT (contextual embeddings), drawn from real tensors. (Being written for #14.)"""


def draw_contextual_embeddings(*args, **kwargs):
    raise NotImplementedError("draw_contextual_embeddings is being written (#14)")
