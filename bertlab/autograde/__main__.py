"""`python -m bertlab.autograde`: the grading steps the Makefile runs outside nbgrader."""

from __future__ import annotations

from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """`python -m bertlab.autograde screen ASSIGNMENT...`: screen every submission folder of the
    assignments that holds no .ipynb file at all (a notebook renamed to .txt, or nothing), or that
    is a symbolic link, or is in one: nbgrader skips a folder without notebooks without calling its
    pre-convert hook. `make autograde` runs it first."""
    import argparse
    import runpy

    from traitlets.config import Config

    parser = argparse.ArgumentParser(prog="python -m bertlab.autograde", description=main.__doc__)
    parser.add_argument("command", choices=["screen"])
    parser.add_argument("assignments", nargs="+")
    parser.add_argument("--config", default="nbgrader_config.py", help="the course's nbgrader config file")
    args = parser.parse_args(argv)
    config = Config()
    runpy.run_path(args.config, init_globals={"get_config": lambda: config})
    screen = config.Autograde.pre_convert_hook
    from bertlab.autograde.screen import ScreenSubmission as Screen

    if not isinstance(screen, Screen):
        raise SystemExit(f"{args.config} sets no ScreenSubmission as c.Autograde.pre_convert_hook")
    submitted = Path(config.CourseDirectory.root) / config.CourseDirectory.submitted_directory
    for assignment in args.assignments:
        for folder in sorted(submitted.glob(f"*/{assignment}")):
            # A folder that is a link (or a link's folder) nbgrader would follow, or a link that
            # leads nowhere it would skip in silence: the screen replaces it by a real folder.
            links = folder.is_symlink() or folder.parent.is_symlink()
            if links or not folder.is_dir() or not any(folder.glob("*.ipynb")):
                screen.screen(folder)
                print(f"screened {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")


if __name__ == "__main__":
    main()
