"""Stage 1b, nbgrader metadata as the gradebook has it (the screen calls this before nbgrader
reads a notebook). A student can edit any cell's metadata: mark a solution cell graded, clear a
test's `grade` flag, duplicate a grade_id or add a "bonus" test cell of their own. nbgrader then
drops the whole submission ("Inconsistent checksums", `MissingEntry`, `KeyError 'grade_id'`). Here
each notebook's nbgrader metadata is made exactly what was released, the student's code is kept,
and a note says what was set right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode


@dataclass(frozen=True)
class ReleasedCell:
    """A cell of the released notebook, as the gradebook has it: what nbgrader checks against."""

    name: str
    cell_type: str
    grade: bool
    solution: bool
    task: bool
    locked: bool
    points: float | None
    checksum: str | None

    def metadata(self) -> dict:
        """The cell's nbgrader metadata, as the released notebook has it."""
        from nbgrader.nbgraderformat import MetadataValidator

        meta = {
            "cell_type": self.cell_type,
            "grade": self.grade,
            "grade_id": self.name,
            "locked": self.locked,
            "solution": self.solution,
            "task": self.task,
            "schema_version": MetadataValidator().schema_version,
        }
        if self.grade or self.task:
            meta["points"] = self.points
        if self.checksum is not None:
            meta["checksum"] = self.checksum
        return meta

    @property
    def kind(self) -> str:
        return (
            "test cell"
            if self.grade and not self.solution
            else "solution cell"
            if self.solution
            else "task cell"
            if self.task
            else "read-only cell"
        )


def released_cells(
    db_url: str, notebook: str, assignment: str, release: Path | None = None
) -> dict[str, ReleasedCell]:
    """The cells of `notebook` of `assignment` that carry nbgrader metadata, by grade_id, from the
    gradebook, with the checksums of the released notebook at `release` where it has one.

    (The gradebook's checksum of a test cell with hidden tests is that of the instructor's source,
    hidden tests included; the release's is that of what students got. nbgrader's OverwriteCells
    puts the gradebook's in before it compares, so either grades the same; the release's tells
    whether a student's cell is still as released.)"""
    from nbgrader.api import Gradebook

    checksums = {}
    if release is not None:
        for cell in nbformat.read(release, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if "grade_id" in meta and "checksum" in meta:
                checksums[meta["grade_id"]] = meta["checksum"]
    with Gradebook(db_url) as gradebook:
        released = gradebook.find_notebook(notebook, assignment)
        points = {cell.name: float(cell.max_score) for cell in released.grade_cells}
        tasks = {cell.name: float(cell.max_score) for cell in released.task_cells}
        solutions = {cell.name for cell in released.solution_cells}
        return {
            cell.name: ReleasedCell(
                cell.name,
                cell.cell_type,
                grade=cell.name in points,
                solution=cell.name in solutions,
                task=cell.name in tasks,
                locked=bool(cell.locked),
                points=points.get(cell.name, tasks.get(cell.name)),
                checksum=checksums.get(cell.name, cell.checksum),
            )
            for cell in released.source_cells
        }


def normalise_metadata(nb: NotebookNode, released: dict[str, ReleasedCell]) -> list[str]:
    """Make the nbgrader metadata of `nb`'s cells what the release has, in place; return a note per
    change. Each cell's source is left alone (nbgrader itself puts back the source of locked cells).

    nbgrader drops a whole submission on metadata it does not expect: a grade_id it does not know,
    or one used twice (a KeyError 'grade_id', a MissingEntry, "Duplicate grade id"), flags that
    disagree with the gradebook ("Inconsistent checksums", a MissingEntry for a solution cell
    marked as graded), a schema version it does not read. After this, every cell with nbgrader
    metadata is a cell of the release, once, of its cell type, with its flags, points and checksum.
    """
    from nbgrader.utils import compute_checksum

    notes, claims = [], {}
    for index, cell in enumerate(nb.cells):
        if "nbgrader" not in cell.metadata:
            continue
        meta = cell.metadata.nbgrader
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(grade_id, str) or grade_id not in released:
            del cell.metadata["nbgrader"]
            if isinstance(meta, dict) and (
                grade_id or meta.get("grade") or meta.get("solution") or meta.get("task")
            ):
                name = f" {grade_id!r}" if isinstance(grade_id, str) and grade_id else ""
                notes.append(
                    f"A cell of yours was marked as an nbgrader cell{name} that the exercise does "
                    "not have; it was graded as an ordinary cell (it earns no points of its own)."
                )
            continue
        original = released[grade_id]
        if cell.cell_type != original.cell_type:
            del cell.metadata["nbgrader"]
            put_back = (
                " The exercise's cell was put back in its place."
                if original.grade or original.task
                else ""
            )
            notes.append(
                f"The {original.kind} {grade_id} was changed into a {cell.cell_type} cell; yours "
                f"was kept as an ordinary cell.{put_back}"
            )
            continue
        claims.setdefault(grade_id, []).append(index)

    for grade_id, indices in claims.items():
        original = released[grade_id]
        restored = original.metadata()

        # Which of several cells claiming one id keeps it. All of them stay in the notebook and run,
        # in order, so the code of each still counts; the id decides which cell nbgrader treats as
        # the exercise's: a test cell gets its source put back there, a solution cell is the answer
        # that the feedback shows and that a manually graded part is graded on. For a solution
        # cell: the last one the student wrote in (its checksum differs from the release's stub),
        # since when the notebook runs top to bottom its definitions are the ones in force after it.
        # For a read-only or test cell: the last one still as released (a copy the student added
        # elsewhere does not move the test). Otherwise the last one, as nbgrader's DeduplicateIds.
        def as_released(index: int) -> bool:
            probe = nbformat.from_dict({**nb.cells[index], "metadata": {"nbgrader": restored}})
            return compute_checksum(probe) == original.checksum

        keeper = indices[-1]
        if original.solution:
            keeper = next((i for i in reversed(indices) if not as_released(i)), keeper)
        elif original.locked:
            keeper = next((i for i in reversed(indices) if as_released(i)), keeper)
        for index in indices:
            if index != keeper:
                del nb.cells[index].metadata["nbgrader"]
        if len(indices) > 1:
            notes.append(
                f"{len(indices) - 1} more cell(s) of yours claimed the id of the {original.kind} "
                f"{grade_id}; they were graded as ordinary cells."
            )
        cell = nb.cells[keeper]
        if dict(cell.metadata.nbgrader) != restored:
            changed = sorted(
                key
                for key in restored.keys() | cell.metadata.nbgrader.keys()
                if key != "checksum" and cell.metadata.nbgrader.get(key) != restored.get(key)
            )
            if changed:
                notes.append(
                    f"The nbgrader settings of the {original.kind} {grade_id} had been changed "
                    f"({', '.join(changed)}); they were set back to the exercise's."
                )
            cell.metadata["nbgrader"] = nbformat.from_dict(restored)
    return notes


def put_back_missing_cells(
    nb: NotebookNode, release: NotebookNode, released: dict[str, ReleasedCell]
) -> list[str]:
    """Put back, as released, every read-only or test cell of the release that `nb` lacks (after
    `normalise_metadata`), right after the nearest cell before it in the release that `nb` has;
    return a note per cell.

    nbgrader's own `add_missing_cells` puts a missing test cell after the solution or test cell
    before it in the release, and raises a KeyError, dropping the submission, when that one is
    missing too (a student who deleted a part: its solution cell and its first test). A solution
    cell is not put back: the student's code is theirs, and a stub would only raise.
    """
    present = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    notes, previous = [], None
    for cell in release.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id not in released:
            continue
        original = released[grade_id]
        if (
            grade_id not in present
            and (original.locked or original.grade or original.task)
            and not original.solution
        ):
            restored = nbformat.from_dict(cell)
            if restored.cell_type == "code":
                restored.outputs, restored.execution_count = [], None
            restored.metadata = nbformat.from_dict({"nbgrader": original.metadata()})
            at = nb.cells.index(present[previous]) + 1 if previous in present else 0
            nb.cells.insert(at, restored)
            present[grade_id] = restored
            notes.append(
                f"The {original.kind} {grade_id} was missing from the submission; it was put back, "
                "as released."
            )
        previous = grade_id if grade_id in present else previous
    return notes
