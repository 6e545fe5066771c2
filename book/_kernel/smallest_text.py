# Run by the book's kernel at start (ipython_kernel_config.py): every figure a chapter shows
# carries, in its PNG, the height of its smallest text in pixels of that PNG. The browser test
# (tests/test_rendered_book.py) reads it from each image the site serves and checks that the text
# is at least 9 px on screen at 1280 and 800 px. Nothing of this shows in the chapters: it only
# adds a tEXt entry to the PNG matplotlib writes.


def _record_the_smallest_text_of_each_figure():
    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.text import Text

    print_figure = FigureCanvasBase.print_figure

    def smallest_text_pt(figure):
        figure.draw_without_rendering()  # lays out ticks and labels as the PNG will have them
        sizes = [text.get_fontsize() for text in figure.findobj(Text)
                 if text.get_visible() and text.get_text().strip() and text.get_alpha() != 0
                 and all(parent.get_visible() for parent in _parents(text))]
        return min(sizes, default=None)

    def _parents(text):
        axes = text.axes
        return [axes] if axes is not None else []

    def print_figure_with_its_smallest_text(self, filename, *args, **kwargs):
        if kwargs.get("format", "png") == "png":
            size = smallest_text_pt(self.figure)
            if size is not None:
                dpi = kwargs.get("dpi") or matplotlib.rcParams["savefig.dpi"]
                dpi = self.figure.dpi if dpi == "figure" else dpi
                metadata = dict(kwargs.get("metadata") or {})
                metadata["bertlab:smallest-text-px"] = f"{size * dpi / 72:.2f}"
                kwargs["metadata"] = metadata
        return print_figure(self, filename, *args, **kwargs)

    FigureCanvasBase.print_figure = print_figure_with_its_smallest_text


_record_the_smallest_text_of_each_figure()
del _record_the_smallest_text_of_each_figure
