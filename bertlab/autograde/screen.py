"""Stage 1, the screen (nbgrader's pre-convert hook): before nbgrader reads a submission, every
notebook of the assignment is made readable and the originals are kept in grading/rejected/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from nbformat import NotebookNode


class ScreenSubmission:
    """nbgrader's pre-convert hook (`c.Autograde.pre_convert_hook`): before nbgrader reads a
    submission, make every notebook of the assignment readable, keeping the originals.

    - a notebook over `max_bytes`, not valid JSON, or not a notebook: moved to `rejected`, and the
      untouched exercise from `release` put in its place, with a note saying why (it earns 0);
    - a notebook of the assignment missing while exactly one other readable notebook was handed in:
      that one is graded under the right name (the original kept), with a note;
    - a notebook missing with nothing to stand for it: the untouched exercise, with a note.
    """

    def __init__(self, *, release: str | Path, rejected: str | Path, max_bytes: int):
        self.release, self.rejected = Path(release), Path(rejected)
        self.max_bytes = max_bytes

    def __call__(self, *, assignment: str, student: str, notebooks: list[str]) -> None:
        # nbgrader passes the command line's patterns ("*" for every student) and the notebooks it
        # found in this submission's folder, grading/submitted/<student>/<assignment>/.
        if notebooks:
            folder = Path(notebooks[0]).parent
            self.screen(folder)
            notebooks[:] = sorted(str(p) for p in folder.glob("*.ipynb"))  # what nbgrader goes on to grade

    def screen(self, folder: Path) -> None:
        """Set right the submission in `folder` (grading/submitted/<student>/<assignment>/)."""
        student, assignment = folder.parent.name, folder.name
        expected = sorted(p.name for p in (self.release / assignment).glob("*.ipynb"))
        for name in expected:
            problem = self.problem(folder / name) if (folder / name).exists() else None
            if problem:
                self._keep(folder / name, student, assignment)
                self._stand_in(folder / name, assignment, f"The notebook you handed in, {name}, {problem}. It is "
                               "kept as you sent it, but it cannot be graded: in its place the untouched exercise "
                               "was graded, which earns 0 points. Ask your instructor how to hand it in again.")
        missing = [name for name in expected if not (folder / name).exists()]
        others = sorted(p for p in folder.iterdir() if p.is_file() and p.name not in expected
                        and p.name != "timestamp.txt" and self.problem(p) is None) if folder.is_dir() else []
        if len(missing) == 1 and len(others) == 1:
            renamed, name = others[0], missing[0]
            self._keep(renamed, student, assignment)
            nb = nbformat.read(self.rejected / student / assignment / renamed.name, as_version=4)
            nb.cells.insert(0, self._note(f"You handed this notebook in as {renamed.name}; it was graded as {name}, "
                                          "the name the exercise has."))
            nbformat.write(nb, folder / name)
        else:
            for name in missing:
                found = ", ".join(p.name for p in others) or "no other notebook"
                self._stand_in(folder / name, assignment, f"No notebook named {name} was handed in ({found}). In its "
                               "place the untouched exercise was graded, which earns 0 points.")

    def problem(self, path: Path) -> str | None:
        """Why the file `path` cannot be graded as a notebook, or None if it can."""
        size = path.stat().st_size
        if size > self.max_bytes:
            return (f"is {size / 2**20:.0f} MiB, over the {self.max_bytes / 2**20:.0f} MiB a notebook may be "
                    "(clear its outputs before handing it in)")
        try:
            text = path.read_text(encoding="utf-8")
            json.loads(text)
            nbformat.validate(nbformat.reads(text, as_version=4))
        except json.JSONDecodeError as error:
            return f"is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        except UnicodeDecodeError:
            return "is not text (not UTF-8)"
        except Exception as error:
            return f"is not a Jupyter notebook ({str(error).splitlines()[0][:200]})"
        return None

    def _keep(self, path: Path, student: str, assignment: str) -> None:
        """Move a file out of the submission into grading/rejected/<student>/<assignment>/."""
        keep = self.rejected / student / assignment / path.name
        keep.parent.mkdir(parents=True, exist_ok=True)
        if keep.exists():  # an earlier rejection of the same name stays too
            keep.rename(keep.with_name(f"{keep.name}.{int(keep.stat().st_mtime)}"))
        shutil.move(str(path), str(keep))

    def _stand_in(self, path: Path, assignment: str, reason: str) -> None:
        nb = nbformat.read(self.release / assignment / path.name, as_version=4)
        nb.cells.insert(0, self._note(reason))
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)

    @staticmethod
    def _note(text: str) -> NotebookNode:
        return nbformat.v4.new_markdown_cell(f"**Grading note.** {text}")
