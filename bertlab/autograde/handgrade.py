"""Written answers graded by hand, one question across the whole class at a time.

Each exercise asks a short "why" question or two ("why are the attention scores divided by
sqrt(D)?"). Each is an nbgrader *manually graded answer*: a Markdown cell with `grade` and
`solution` set, whose source in solutions/ is the model answer and mark scheme. The released
notebook shows "YOUR ANSWER HERE" in its place (nbgrader's ClearSolutions), and so does the
gradebook: `generate_assignment` records each cell after clearing the solutions. So the mark
scheme, and the question (the Markdown cell just above the answer), are read from solutions/.

A reader marks more evenly, and faster, with one question's answers side by side against one
scheme than student by student, so the instructor grades a question across the class:

    python -m bertlab.autograde handgrade ASSIGNMENT             (make handgrade ASSIGNMENT=...)
        lists the assignment's hand-graded questions and how many answers each has to grade;
    python -m bertlab.autograde handgrade ASSIGNMENT QUESTION    (... QUESTION=...)
        writes, in grading/handgrade/<assignment>/,
        <question>.html  the question, the mark scheme, and every student's answer, those to grade
                         first, each with its status, points and comment;
        <question>.csv   the form: a row per student (student_id, status, points, max_points,
                         comment, answer, answer_sha256); the instructor fills points and comment;
    python -m bertlab.autograde marks ASSIGNMENT QUESTION        (make marks ...)
        enters the form's points and comments into the gradebook, as nbgrader's formgrader does
        (Grade.manual_score, Comment.manual_comment), and records them in <question>.marks.json
        with the answer each mark was given for.

A student who left the answer as released gets 0 from nbgrader itself, with no one's time:
`nbgrader.utils.determine_grade` gives a solution cell whose checksum is unchanged 0 points, and
SaveAutoGrades marks it as needing no manual grade. The page lists those students last, and
their rows need nothing.

What is trusted. The gradebook, solutions/ and the instructor's form are the instructor's. Every
answer is the student's, hostile: the page renders it with nbconvert's Markdown and cleans it
with the feedback pages' sanitiser (`safe_html.clean_body`: no script, no event handler, no
remote resource), then makes the whole page safe as a feedback page is (`safe_html.safe_page`:
a Content-Security-Policy first, only the course's MathJax as script); an answer is shown up to
MAX_SHOWN_CHARS; student ids are shown escaped (`ids.shown`). In the form, every text that a
spreadsheet would run as a formula (`=cmd|...`) is neutralised as grades.csv's is
(`export.as_text_cell`), and the neutralising quote is taken off again when the form is read.

The form is checked whole before anything is entered: a row for a student who handed in nothing,
points that are no number, negative or above the question's points, two rows for one student: each
named with its row and the fix, and nothing is entered. Empty points mean "not graded yet" and
change nothing; an empty comment changes nothing either: the form can give and change a mark,
never erase one. `make handgrade` never overwrites a form that holds marks the gradebook does not
have yet (run `make marks` first): no mark typed in is lost.

Grading again. nbgrader keeps a hand-given mark when it grades a submission again: its
SaveAutoGrades sets only Grade.auto_score (nbgrader/preprocessors/saveautogrades.py, _add_score),
and `Grade.score` is the manual score wherever one is set (nbgrader/api.py, Grade.score), so
`make autograde` and `make regrade` leave every hand grade as it was (tests/test_hand_grading.py
checks both). When the student's answer changed since it was graded (handed in again), the mark
stays, and the next page and form flag the student as "answer changed since graded" (the record
keeps the sha256 of the answer each mark was given for): entering the row again, changed or not,
says the mark stands for the new answer. Entering marks makes the students' feedback be made
again by the next `make feedback`, with the points and the comment on the answer.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import math
import os
import re
import secrets
import stat
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bertlab.autograde.__main__ import course_config
from bertlab.autograde.export import FORMULA_STARTS, as_text_cell
from bertlab.autograde.ids import RULE, is_student_id, shown
from bertlab.autograde.safe_html import clean_body, install_assets, safe_page

FOLDER = "handgrade"  # grading/handgrade/<assignment>/<question>.html, .csv, .marks.json
COLUMNS = ["student_id", "status", "points", "max_points", "comment", "answer", "answer_sha256"]
FILLED_IN = ("points", "comment")  # what the instructor writes; the rest is read back or ignored
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")  # an answer's digest, as the form shows it
# An answer of a few sentences is a few hundred characters; past this much, the page and the form
# show the start of it (the page says where the whole is), so that one flood cannot bury the
# class's answers.
MAX_SHOWN_CHARS = 10_000
# The autograded notebook is read only up to this size (a submission is at most 16 MiB, plus at
# most 8 MiB of output the grader kept).
MAX_NOTEBOOK_BYTES = 64 << 20

# A student's answer, by what the gradebook and the record say of it (the page's order).
TO_GRADE = "to grade"
CHANGED = "answer changed since graded"
GRADED = "graded"
NO_ANSWER = "no answer: 0 points, nothing to grade"
ORDER = [TO_GRADE, CHANGED, GRADED, NO_ANSWER]


# ------------------------------------------------------------------------------------------------
# What is graded: the question and the answers
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """A hand-graded answer cell of an assignment, as the instructor wrote it in solutions/."""

    assignment: str
    notebook: str  # the notebook's name, without .ipynb
    name: str  # the answer cell's grade_id
    points: float
    text: str  # the Markdown cell just above the answer cell, or "" if there is none
    scheme: str  # the answer cell's source: the model answer and mark scheme


@dataclass
class Answer:
    """One student's answer to a question, with what the gradebook and the record hold of it."""

    student: str
    text: str | None  # None: no graded notebook, or no answer cell in it (`problem` says which)
    problem: str
    auto_points: float | None  # nbgrader's: 0 for an answer left as released, otherwise None
    points: float | None  # the hand-given mark (Grade.manual_score)
    comment: str | None  # the instructor's comment (Comment.manual_comment)
    graded_sha256: str | None  # the answer the mark was given for (the record), if known

    @property
    def sha256(self) -> str:
        return answer_sha256(self.text)

    @property
    def status(self) -> str:
        if self.points is not None:
            changed = self.graded_sha256 is not None and self.graded_sha256 != self.sha256
            return CHANGED if changed else GRADED
        if self.auto_points is not None:  # nbgrader found the cell as released, and gave it 0
            return NO_ANSWER
        return TO_GRADE


def answer_sha256(text: str | None) -> str:
    """The digest that tells one answer from another ("" for no answer cell at all)."""
    if text is None:
        return ""
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def hand_graded_questions(gradebook, assignment: str) -> dict[str, tuple[str, float]]:
    """The assignment's hand-graded answer cells, {grade_id: (notebook, points)}: the Markdown
    cells that are both graded and solution cells."""
    from nbgrader.api import MissingEntry

    try:
        notebooks = gradebook.find_assignment(assignment).notebooks
    except MissingEntry:
        raise ValueError(
            f"{assignment} is not in the gradebook yet: run make release, then make autograde"
        ) from None
    found = {}
    for notebook in notebooks:
        solutions = {cell.name for cell in notebook.solution_cells}
        for cell in notebook.grade_cells:
            if cell.name in solutions and cell.cell_type == "markdown":
                found[cell.name] = (notebook.name, float(cell.max_score))
    return dict(sorted(found.items()))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _grade_id(cell) -> object:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None


def load_question(gradebook, source: Path, assignment: str, name: str) -> Question:
    """The question `name` of `assignment`: its points from the gradebook, its text and mark
    scheme from the instructor's notebook in `source` (solutions/)."""
    questions = hand_graded_questions(gradebook, assignment)
    if name not in questions:
        listed = ", ".join(questions) or "none: it has no Markdown cell with grade and solution set"
        raise ValueError(
            f"{shown(name)} is not a hand-graded question of {assignment}: name one of its "
            f"questions ({listed})"
        )
    notebook, points = questions[name]
    path = source / assignment / f"{notebook}.ipynb"
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no {path}: the mark scheme is the answer cell's source there (solutions/ as "
            "released); restore it"
        ) from None
    at = next((i for i, cell in enumerate(cells) if _grade_id(cell) == name), None)
    if at is None:
        raise ValueError(
            f"{path} has no cell {name}, which the gradebook has: restore it, or run make release "
            "if the question was renamed before any student handed it in"
        )
    above = cells[at - 1] if at > 0 else {}
    text = _source(above) if above.get("cell_type") == "markdown" else ""
    return Question(assignment, notebook, name, points, text, _source(cells[at]))


def read_notebook(path: Path) -> dict:
    """A graded notebook as JSON: a plain file (no link followed, no FIFO waited on) of at most
    MAX_NOTEBOOK_BYTES; ValueError says why not."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ValueError(f"cannot be opened ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("is not a plain file")
        data = file.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"is larger than {MAX_NOTEBOOK_BYTES} bytes")
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("is not a notebook (not JSON)") from None
    if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list)):
        raise ValueError("is not a notebook (no list of cells)")
    return nb


def student_answer(autograded: Path, question: Question, student: str) -> tuple[str | None, str]:
    """The student's answer as graded (grading/autograded/<student>/<assignment>/<notebook>.ipynb:
    nbgrader's screen and metadata checks have passed it), or None and why there is none."""
    path = autograded / student / question.assignment / f"{question.notebook}.ipynb"
    try:
        nb = read_notebook(path)
    except ValueError as why:
        return None, f"the graded notebook {path} {why}"
    for cell in nb["cells"]:
        if _grade_id(cell) == question.name and isinstance(cell, dict):
            return _source(cell), ""
    return None, f"the graded notebook {path} has no cell {question.name}"


def read_answers(gradebook, autograded: Path, question: Question, record: dict) -> list[Answer]:
    """Every student's answer to `question` that nbgrader graded, in the page's order: to grade,
    changed since graded, graded, no answer; by student id within each."""
    answers = []
    for submission in gradebook.find_assignment(question.assignment).submissions:
        student = submission.student.id
        where = (question.name, question.notebook, question.assignment, student)
        grade, comment = gradebook.find_grade(*where), gradebook.find_comment(*where)
        text, problem = student_answer(autograded, question, student)
        answers.append(
            Answer(
                student=student,
                text=text,
                problem=problem,
                auto_points=grade.auto_score,
                points=grade.manual_score,
                comment=comment.manual_comment,
                graded_sha256=record.get(student, {}).get("answer_sha256"),
            )
        )
    return sorted(answers, key=lambda a: (ORDER.index(a.status), a.student))


# ------------------------------------------------------------------------------------------------
# The page and the form
# ------------------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem; color: #222;
       padding: 0 1rem; line-height: 1.45; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; }
.question, .scheme { border-left: 4px solid #4a7bd0; padding: 0.2rem 1rem; background: #f4f7fc; }
.scheme { border-color: #3a9a5b; background: #f3faf5; }
.answer { border: 1px solid #ccc; border-radius: 4px; margin: 1rem 0; padding: 0 1rem; }
.answer h3 { margin: 0.6rem 0 0.3rem; }
.status { font-size: 0.85rem; font-weight: normal; padding: 0.1rem 0.4rem; border-radius: 3px;
          background: #eee; }
.to-grade .status { background: #ffe9a8; }
.answer-changed-since-graded { border-color: #d2413a; }
.answer-changed-since-graded .status { background: #f8c9c6; }
.marks { color: #555; font-size: 0.9rem; }
.text { border-top: 1px dashed #ccc; overflow-wrap: anywhere; }
.note { color: #8a4b00; font-style: italic; }
pre { background: #f7f7f7; padding: 0.5rem; overflow-x: auto; }
"""


def _markdown(text: str) -> str:
    """Markdown as nbconvert renders a notebook's Markdown cell, then sanitised (a student's
    raw HTML included; one answer's unclosed tag cannot reach into the next: nh3 balances it)."""
    from nbconvert.filters.markdown import markdown2html

    return clean_body(markdown2html(text))


def _cut(text: str) -> tuple[str, str]:
    """`text` up to MAX_SHOWN_CHARS, and a note if it was cut."""
    if len(text) <= MAX_SHOWN_CHARS:
        return text, ""
    return text[:MAX_SHOWN_CHARS], (
        f"Cut here: the answer has {len(text):,} characters, of which the first "
        f"{MAX_SHOWN_CHARS:,} are shown; the whole is in the student's graded notebook, in "
        "grading/autograded/."
    )


def _points(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _points_words(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def _anchor(student: str) -> str:
    # A student id has only ASCII letters, digits and . _ - @ (ids.py); anything else, which the
    # gradebook should not hold, is dropped.
    return "student-" + "".join(ch for ch in student if ch.isalnum() or ch in "._-@")


def page(question: Question, answers: list[Answer], form: str) -> str:
    """The hand-grading page of `question` (made safe by `safe_page`)."""
    e = html.escape
    counts = {status: sum(a.status == status for a in answers) for status in ORDER}
    command = f"make marks ASSIGNMENT={question.assignment} QUESTION={question.name}"
    out = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(question.name)} ({e(question.assignment)}): hand grading</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Hand grading: <code>{e(question.name)}</code> of {e(question.assignment)}</h1>",
        f"<p>{len(answers)} students: {counts[TO_GRADE]} to grade, {counts[CHANGED]} with an "
        f"answer changed since graded, {counts[GRADED]} graded, {counts[NO_ANSWER]} with no "
        f"answer (0 points from nbgrader, nothing to grade). Write each mark (0 to "
        f"{_points_words(question.points)}) and comment in <code>{e(form)}</code> beside this "
        f"page, then run <code>{e(command)}</code>.</p>",
        "<h2>The question</h2>",
        f"<div class='question'>{_markdown(question.text) or '<p>(no Markdown cell above)</p>'}"
        "</div>",
        f"<h2>Mark scheme ({_points_words(question.points)})</h2>",
        f"<div class='scheme'>{_markdown(question.scheme)}</div>",
        "<h2>The class</h2>",
        "<table><tr><th>student</th><th>status</th><th>points</th></tr>",
    ]
    for a in answers:
        out.append(
            f"<tr><td><a href='#{_anchor(a.student)}'>{shown(a.student, html=True)}</a></td>"
            f"<td>{e(a.status)}</td><td>{_points(0.0 if a.status == NO_ANSWER else a.points)}"
            "</td></tr>"
        )
    out.append("</table>")
    for status in ORDER:
        group = [a for a in answers if a.status == status]
        if not group:
            continue
        out.append(f"<h2>{e(status[0].upper() + status[1:])} ({len(group)})</h2>")
        for a in group:
            out.append(_answer_block(a, question))
    out.append("</body></html>\n")
    return safe_page("\n".join(out))


def _answer_block(a: Answer, question: Question) -> str:
    e = html.escape
    css = a.status.split(":")[0].replace(" ", "-")
    if a.points is not None:
        marks = f"{a.points:g} of {question.points:g} points."
    elif a.status == NO_ANSWER:
        marks = f"0 of {question.points:g} points, from nbgrader: the answer is as released."
    else:
        marks = f"Not graded yet (of {question.points:g} points)."
    if a.comment:
        marks += f" Comment: {e(a.comment)}"
    block = [
        f"<div class='answer {css}' id='{_anchor(a.student)}'>",
        f"<h3>{shown(a.student, html=True)} <span class='status'>{e(a.status)}</span></h3>",
        f"<p class='marks'>{marks}</p>",
    ]
    if a.status == CHANGED:
        block.append(
            "<p class='note'>The student handed in another answer after this mark was given: "
            "the mark stands until you enter this row again (changed or not).</p>"
        )
    if a.text is None:
        block.append(f"<p class='note'>No answer to show: {e(a.problem)}.</p>")
    else:
        shown_text, note = _cut(a.text)
        block.append(f"<div class='text'>{_markdown(shown_text)}</div>")
        if note:
            block.append(f"<p class='note'>{e(note)}</p>")
        # The text as typed, escaped: what the sanitiser removed (a script, raw HTML) is seen as
        # text, and so are the formulas' TeX (MathJax leaves <pre> alone).
        block.append(f"<details><summary>As written</summary><pre>{e(shown_text)}</pre></details>")
    block.append("</div>")
    return "\n".join(block)


def form_rows(question: Question, answers: list[Answer]) -> list[dict]:
    """The form's rows, in the page's order; every text cell neutralised for a spreadsheet."""
    rows = []
    for a in answers:
        answer = "" if a.text is None else _cut(a.text)[0]
        rows.append(
            {
                "student_id": as_text_cell(a.student),
                "status": as_text_cell(a.status),
                "points": _points(a.points),
                "max_points": _points(question.points),
                "comment": as_text_cell(a.comment),
                "answer": as_text_cell(answer),
                "answer_sha256": a.sha256,
            }
        )
    return rows


def _write_atomically(path: Path, text: str) -> None:
    """`path` holds `text` whole, or is as it was: written beside it, then renamed."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    with open(temporary, "w", encoding="utf-8", newline="") as file:
        file.write(text)
    os.replace(temporary, path)


def form_text(rows: list[dict]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------
# Reading the form back
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """A row of the form with something to enter."""

    row: int  # as a spreadsheet numbers it: the header is row 1
    student: str
    points: float | None
    comment: str | None
    answer_sha256: str  # the answer the instructor saw when the form was made ("" if unknown)


class FormError(ValueError):
    """A form that cannot be entered; `problems` holds one line per bad row."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        super().__init__(f"{path}: " + "; ".join(problems))


def from_text_cell(text: str) -> str:
    """A text cell of the form as the instructor meant it: the quote that `as_text_cell` put
    before a formula character taken off, line ends made \\n, spaces around trimmed."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def read_form_rows(path: Path) -> list[tuple[int, dict]]:
    """The form's rows with something in them, numbered as a spreadsheet numbers them."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:  # -sig: Excel's BOM
            reader = csv.DictReader(file)
            header = reader.fieldnames or []
            missing = [c for c in ("student_id", *FILLED_IN) if c not in header]
            if missing:
                raise FormError(
                    path,
                    [
                        f"the header row has no column {', '.join(missing)}: keep the header "
                        f"make handgrade wrote ({','.join(COLUMNS)})"
                    ],
                )
            rows = [
                (number, row)
                for number, row in enumerate(reader, start=2)
                if any((value or "").strip() for value in row.values() if isinstance(value, str))
            ]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no form {path}: run make handgrade with the same ASSIGNMENT and QUESTION first, "
            "then fill its points and comment columns"
        ) from None
    except UnicodeDecodeError:
        raise FormError(
            path, ["it is not UTF-8 text: save it from the spreadsheet as 'CSV UTF-8'"]
        ) from None
    except csv.Error as error:
        raise FormError(path, [f"it is not CSV the csv module can read ({error})"]) from None
    return rows


def read_marks(path: Path, question: Question, students: set[str]) -> list[Mark]:
    """The form's marks, every row checked first: a FormError names each bad row and its fix."""
    problems, marks, first_row = [], [], {}
    for number, row in read_form_rows(path):
        student = (row.get("student_id") or "").strip()
        where = f"row {number} ({shown(student)})"
        points_text = from_text_cell(row.get("points") or "")
        comment = from_text_cell(row.get("comment") or "")
        digest = (row.get("answer_sha256") or "").strip()
        if not is_student_id(student):
            problems.append(
                f"{where}: not a student id, which is {RULE}: copy the id from the form make "
                "handgrade wrote, or delete the row"
            )
            continue
        if student not in students:
            problems.append(
                f"{where}: {student} has no graded submission of {question.assignment}: copy "
                "the id from the form make handgrade wrote, or delete the row"
            )
            continue
        if student in first_row:
            problems.append(
                f"{where}: a second row for {student} (the first is row {first_row[student]}): "
                "keep one row per student"
            )
            continue
        first_row[student] = number
        points = None
        if points_text:
            try:
                points = float(points_text)
            except ValueError:
                points = math.nan
            fix = f"write a number from 0 to {question.points:g} (1.5, with a point)"
            if math.isnan(points) or math.isinf(points):
                problems.append(
                    f"{where}: points {shown(points_text)} is not a number: {fix}, or leave it "
                    "empty for not graded yet"
                )
                continue
            if points < 0:
                problems.append(f"{where}: points {points:g} is negative: {fix}")
                continue
            if points > question.points:
                problems.append(
                    f"{where}: points {points:g} is more than the question's "
                    f"{question.points:g}: {fix}"
                )
                continue
        if digest and not SHA256.fullmatch(digest):
            problems.append(
                f"{where}: answer_sha256 is not as make handgrade wrote it: put it back, or "
                "leave it empty (the mark is then for the answer graded now)"
            )
            continue
        if points is not None or comment:
            marks.append(Mark(number, student, points, comment or None, digest))
    if problems:
        raise FormError(path, problems)
    return marks


# ------------------------------------------------------------------------------------------------
# The record of marks entered
# ------------------------------------------------------------------------------------------------


def read_record(path: Path) -> dict:
    """{student: {"points", "comment", "answer_sha256", "entered"}} of <question>.marks.json."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        raise ValueError(
            f"{path} is not the JSON make marks writes: restore it from a backup, or delete it "
            "(the marks stay in the gradebook; only the record of which answer each was given "
            "for is lost)"
        ) from None
    students = record.get("students") if isinstance(record, dict) else None
    if not isinstance(students, dict):
        raise ValueError(f"{path} has no 'students' object: restore it, or delete it")
    return students


# ------------------------------------------------------------------------------------------------
# The two commands
# ------------------------------------------------------------------------------------------------


class HandGrading:
    """The course's folders and gradebook, as its nbgrader config names them, for one assignment."""

    def __init__(self, config, assignment: str):
        from nbgrader.coursedir import CourseDirectory

        from bertlab.autograde.__main__ import Course

        course = CourseDirectory(config=config)
        self.course = Course(config, nbgrader="nbgrader")  # the grader's folders and records
        self.db_url = course.db_url
        self.source = Path(course.root) / course.source_directory
        self.assignment = assignment
        self.folder = self.course.grading / FOLDER / assignment

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url)

    def paths(self, question: str) -> tuple[Path, Path, Path]:
        """The page, the form and the record of a question."""
        page, form, record = (f"{question}{suffix}" for suffix in (".html", ".csv", ".marks.json"))
        return self.folder / page, self.folder / form, self.folder / record

    def overview(self) -> list[str]:
        """One line per hand-graded question of the assignment: how many answers are where."""
        with self.gradebook() as gradebook:
            questions = hand_graded_questions(gradebook, self.assignment)
            lines = []
            for name in questions:
                question = load_question(gradebook, self.source, self.assignment, name)
                record = read_record(self.paths(name)[2])
                answers = read_answers(gradebook, self.course.autograded, question, record)
                counts = ", ".join(
                    f"{sum(a.status == status for a in answers)} {status.split(':')[0]}"
                    for status in ORDER
                )
                lines.append(f"{name} ({_points_words(question.points)}): {counts}")
        if not lines:
            return [
                f"{self.assignment} has no hand-graded question (a Markdown cell with nbgrader's "
                "grade and solution set)"
            ]
        return lines + [
            f"make handgrade ASSIGNMENT={self.assignment} QUESTION=<one of them> writes its page "
            "and form"
        ]

    def write(self, name: str) -> list[Answer]:
        """Write the page and the form of question `name`; refuses (ValueError) to replace a form
        that holds marks not entered yet."""
        page_path, form_path, record_path = self.paths(name)
        with self.gradebook() as gradebook:
            question = load_question(gradebook, self.source, self.assignment, name)
            answers = read_answers(
                gradebook, self.course.autograded, question, read_record(record_path)
            )
        pending = marks_not_entered(form_path, answers)
        if pending:
            raise ValueError(
                f"{form_path} holds marks not entered yet ({', '.join(pending)}): run make marks "
                f"ASSIGNMENT={self.assignment} QUESTION={name} first (or move the form away to "
                "start a new one)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(form_path, form_text(form_rows(question, answers)))
        _write_atomically(page_path, page(question, answers, form_path.name))
        # The page's MathJax beside it, as a feedback page has it (one shared copy, hard-linked).
        install_assets(self.folder, self.course.grading / "feedback-assets")
        return answers

    def enter(self, name: str) -> tuple[list[Mark], list[str], list[str]]:
        """Enter the form of question `name` into the gradebook, all or nothing; returns the
        marks entered, the students whose feedback is to be made again and notes to print."""
        _, form_path, record_path = self.paths(name)
        record = read_record(record_path)
        with self.gradebook() as gradebook:
            question = load_question(gradebook, self.source, self.assignment, name)
            answers = {
                a.student: a
                for a in read_answers(gradebook, self.course.autograded, question, record)
            }
            marks = read_marks(form_path, question, set(answers))
            changed, notes = [], []
            for mark in marks:
                where = (question.name, question.notebook, question.assignment, mark.student)
                grade, comment = gradebook.find_grade(*where), gradebook.find_comment(*where)
                before = (grade.manual_score, comment.manual_comment)
                if mark.points is not None:
                    grade.manual_score = mark.points
                    grade.needs_manual_grade = False  # as nbgrader's formgrader does
                if mark.comment is not None:
                    comment.manual_comment = mark.comment
                if (grade.manual_score, comment.manual_comment) != before:
                    changed.append(mark.student)
                now = answers[mark.student].sha256
                if mark.points is not None and mark.answer_sha256 not in ("", now):
                    notes.append(
                        f"{mark.student} handed in another answer after the form was made: the "
                        "mark is entered for the answer you read, and the next make handgrade "
                        "flags it as changed since graded"
                    )
            gradebook.db.commit()  # one transaction: every mark of the form, or none
        # The record: which answer each mark was given for (the one the form showed).
        entered = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for mark in marks:
            if mark.points is None:
                continue
            record[mark.student] = {
                "points": mark.points,
                "comment": mark.comment,
                "answer_sha256": mark.answer_sha256 or answers[mark.student].sha256,
                "entered": entered,
            }
        document = {"assignment": self.assignment, "question": name, "students": record}
        _write_atomically(record_path, json.dumps(document, indent=1, sort_keys=True) + "\n")
        self.feedback_to_be_made_again(changed)
        return marks, changed, notes

    def feedback_to_be_made_again(self, students: list[str]) -> None:
        """The next `make feedback` makes these students' feedback again: it remakes any whose
        record (grading/graded/<student>/<assignment>.feedback) differs from the grading's."""
        from bertlab.autograde.__main__ import _write_record

        for student in students:
            _write_record(
                self.course.graded / student / f"{self.assignment}.feedback",
                "marks entered by hand since this feedback was made",
            )


def marks_not_entered(form: Path, answers: list[Answer]) -> list[str]:
    """The rows of an existing form whose points or comment the gradebook does not hold (row
    numbers and students), so that `make handgrade` does not write over them."""
    if not form.exists():
        return []
    try:
        rows = read_form_rows(form)
    except ValueError as error:
        raise ValueError(
            f"{error}; it may hold marks not entered yet, so make handgrade leaves it: fix it and "
            "run make marks, or move it away to start a new form"
        ) from None
    known = {a.student: a for a in answers}
    pending = []
    for number, row in rows:
        student = (row.get("student_id") or "").strip()
        points = from_text_cell(row.get("points") or "")
        comment = from_text_cell(row.get("comment") or "")
        if not points and not comment:
            continue
        answer = known.get(student)
        try:
            same_points = not points or (answer is not None and float(points) == answer.points)
        except ValueError:
            same_points = False
        same_comment = not comment or (answer is not None and comment == (answer.comment or ""))
        if not (same_points and same_comment):
            pending.append(f"row {number} ({shown(student)})")
    return pending


def main(argv: list[str]) -> None:
    """`python -m bertlab.autograde handgrade ASSIGNMENT [QUESTION]`: without QUESTION, the
    assignment's hand-graded questions and how many answers each has to grade; with it, the page
    and the form of that question in grading/handgrade/<assignment>/.
    `python -m bertlab.autograde marks ASSIGNMENT QUESTION`: the form's points and comments into
    the gradebook, checked whole first (bertlab/autograde/handgrade.py says more)."""

    from bertlab._cli import ArgumentParser, user_input
    from bertlab.autograde.__main__ import check_assignments

    parser = ArgumentParser(prog="python -m bertlab.autograde", description=main.__doc__)
    parser.add_argument("command", choices=["handgrade", "marks"])
    parser.add_argument("assignment")
    parser.add_argument("question", nargs="?")
    parser.add_argument(
        "--config", default="nbgrader_config.py", help="the course's nbgrader config file"
    )
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    with user_input(prog):
        if args.command == "marks" and not args.question:
            raise ValueError("marks needs the QUESTION whose form to enter (its grade_id)")
        config = course_config(args.config)
        check_assignments(config, [args.assignment])
        grading = HandGrading(config, args.assignment)
        if args.command == "handgrade" and not args.question:
            print("\n".join(grading.overview()))
            return
        if args.command == "handgrade":
            answers = grading.write(args.question)
        else:
            try:
                marks, changed, notes = grading.enter(args.question)
            except FormError as error:
                lines = "".join(f"\n  {problem}" for problem in error.problems)
                sys.stderr.write(
                    f"{prog}: error: {error.path}: {len(error.problems)} "
                    f"{'row' if len(error.problems) == 1 else 'rows'} to fix; nothing was "
                    f"entered:{lines}\n"
                )
                raise SystemExit(2) from None
    if args.command == "handgrade":
        page_path, form_path, _ = grading.paths(args.question)
        counts = ", ".join(
            f"{sum(a.status == status for a in answers)} {status.split(':')[0]}" for status in ORDER
        )
        print(f"handgrade: {counts}; wrote {page_path} and {form_path}")
        return
    for note in notes:
        print(f"note: {note}")
    points = sum(mark.points is not None for mark in marks)
    comments = sum(mark.comment is not None for mark in marks)
    print(
        f"marks: {points} marks and {comments} comments entered for {args.question} of "
        f"{args.assignment}; {len(changed)} students' marks changed"
        + (f" ({', '.join(changed)}): make feedback makes their feedback again" if changed else "")
    )
