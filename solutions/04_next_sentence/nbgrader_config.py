"""nbgrader's settings for checking this notebook in its own folder: `nbgrader validate 04_next_sentence.ipynb`,
run here, prints its verdict and nothing else (no note that no configuration was found, no INFO
lines, no log lines of the kernel). The course's grading is configured elsewhere, by the
instructor's nbgrader_config.py; nbgrader never reads this file when it grades."""

c = get_config()  # noqa: F821 (nbgrader's config loader provides it)
c.ValidateApp.log_level = "WARN"
c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
