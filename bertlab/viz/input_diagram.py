"""Chapter 1's picture of BERT (input embeddings), drawn from real tensors. (Being written for #14.)"""


def draw_input_embeddings(*args, **kwargs):
    raise NotImplementedError("draw_input_embeddings is being written (#14)")
