# The kernel that executes the book's chapters (`make book` points IPYTHONDIR at a copy of this
# profile in _build/ipython). Only the kernel's own log is quietened: ipykernel 7 warns on every start
# that it talks to jupyter-book over local TCP without encryption, which is how every notebook build
# runs. Cells' output, stderr included, is untouched (and a chapter that writes to stderr fails the
# rendered-book test).
c.IPKernelApp.log_level = "ERROR"  # noqa: F821 (c is the config object IPython provides)

# Each figure's PNG records the size of its smallest text (see smallest_text.py, copied beside
# this file by `make book`), for the browser test's check that figure text is readable on screen.
from pathlib import Path  # noqa: E402

c.InteractiveShellApp.exec_files = [str(Path(__file__).with_name("smallest_text.py"))]  # noqa: F821
