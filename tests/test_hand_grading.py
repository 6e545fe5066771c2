"""Written answers graded by hand, one question across the class, through the instructor's Makefile
(bertlab/autograde/handgrade.py).

- `make handgrade ASSIGNMENT=a QUESTION=q` writes grading/handgrade/a/q.html: the question (the
  Markdown cell above the answer in solutions/), the mark scheme (the answer cell's source there:
  the gradebook holds only the released "YOUR ANSWER HERE") and every student's answer, rendered
  with nothing of the student's able to run (no script, no event handler, no javascript: link, in
  the page's HTML and in Chromium); and grading/handgrade/a/q.csv, the form: a row per student,
  with any text a spreadsheet would run as a formula (`=cmd|...`) neutralised.
- An answer left as released is 0 from nbgrader, marked as needing no manual grade: the page and
  the form say so, and the form is entered without a row for it.
- `make marks` enters the form's points and comments into the gradebook, all or nothing: a form
  with a bad row (a student who handed in nothing, not a number, negative, above the question's
  points, two rows for one student, no student id) is refused, each bad row named with its fix,
  and nothing is entered. Empty points change nothing. `make handgrade` does not write over a form
  that holds marks not entered yet.
- `make grades` counts the hand-given points; `make feedback` makes the feedback of the students
  whose marks changed again, with the points and the instructor's comment on the answer.
- Grading again never erases a hand grade: not a `make autograde` that grades no one, not a forced
  `make regrade` of a student who handed in a changed answer (whose mark stays, flagged "answer
  changed since graded" until the instructor enters the row again).

A synthetic assignment (one autograded test, two "why" questions of 2 and 1 points) and a class of
four, graded once (the module's fixture) in a private course folder with the repository's Makefile
and nbgrader config, through the Makefile with this venv; the tests read what each step left.
"""

from __future__ import annotations

import contextlib
import csv
import html.parser
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from leaks import shown_text
from required import require, require_program

nbformat = require("nbformat")
require("nbgrader")
require("nh3")

from nbgrader.api import Gradebook  # noqa: E402

from bertlab.autograde.__main__ import main as autograde_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_tiny"
WHY_SCALE, WHY_CLS = "why_scale", "why_cls"  # 2 points and 1 point

QUESTION = "**Question 1 (2 points).** Why are the attention scores divided by $\\sqrt{D}$ before the softmax?"
SCHEME = ("Model answer: the dot product of two $D$-wide vectors of unit-variance entries has variance $D$; "
          "dividing by $\\sqrt{D}$ brings it back to 1. Mark scheme: 1 point for the variance growing with "
          "$D$, 1 point for the softmax saturating (one-hot, vanishing gradients) without it.")
ADA = ("The dot product of two random $D$-wide vectors has variance $D$: dividing by $\\sqrt{D}$ keeps the scores "
       "near unit variance, so the softmax does not saturate and its gradients do not vanish.")
FORMULA = "=cmd|' /C calc'!A0"
MALLORY = (f"{FORMULA}\n\n"
           "<script>alert('script')</script> <img src=x onerror=\"alert('img')\"> "
           "<svg onload=\"alert('svg')\"></svg> <iframe srcdoc=\"<script>parent.alert('iframe')</script>\"></iframe> "
           "[click me](javascript:alert('link')) <a href=\"javascript:alert('a-href')\">or me</a>\n\n"
           "Also: the scores get big, like $\\sqrt{D}$.")
HALF = "So that the numbers stay small."
MALLORY_AGAIN = "Handed in again: without the scale, the softmax of large scores is almost one-hot."

# The class: each student's answers by grade id ("double" is the autograded code).
CLASS = {
    "ada": {"double": "def double(x):\n    return 2 * x", WHY_SCALE: ADA,
            WHY_CLS: "[CLS] is at position 0 of every input, and attention lets it gather the whole pair."},
    "mallory": {"double": "def double(x):\n    return x + x", WHY_SCALE: MALLORY, WHY_CLS: "It is first."},
    "untouched": {},
    "half": {"double": "def double(x):\n    return 2 * x", WHY_SCALE: HALF},
}
# What the instructor writes in the form of why_scale; half's row is left empty (not graded yet),
# untouched's needs nothing.
MARKS = {
    "ada": ("2", "Variance and saturation: both points."),
    "mallory": ("0.5", "=No script runs here, but: the scale keeps the softmax soft,\nnot the numbers small."),
}


# ------------------------------------------------------------------------------------------------
# The course, the class and the instructor's commands
# ------------------------------------------------------------------------------------------------

def cell(kind: str, source: str, grade_id: str, **nbgrader):
    new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    made = new(source)
    made.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
                                 "solution": False, "task": False, **nbgrader}
    return made


def tiny_assignment():
    """One autograded part and two hand-graded questions, each below a Markdown cell that asks it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [
        cell("markdown", "# A tiny exercise", "intro", locked=True),
        cell("code", "from bertlab.grading import check_equal", "setup", locked=True),
        cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "double",
             solution=True),
        cell("code", "### INPUTS\nx = 21\n### ANSWERS\nyours = double(x)\n### VERDICT\n"
             "check_equal(yours, 42, what='double(21)')", "test_double", grade=True, locked=True, points=1),
        cell("markdown", QUESTION, "why_scale_question", locked=True),
        cell("markdown", SCHEME, WHY_SCALE, grade=True, solution=True, points=2),
        cell("markdown", "**Question 2 (1 point).** Why does BERT classify a pair from the `[CLS]` token?",
             "why_cls_question", locked=True),
        cell("markdown", "Model answer: it attends to every token of both segments.", WHY_CLS, grade=True,
             solution=True, points=1),
    ]
    return nb


def hand_in(course: Path, student: str, answers: dict[str, str]) -> None:
    """The released notebook with `answers` written into its cells, as `student`'s submission."""
    nb = nbformat.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for each in nb.cells:
        grade_id = each.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            each.source = answers[grade_id]
    folder = course / "grading" / "submitted" / student / ASSIGNMENT
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")


def make(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`make` in the course folder with this venv: `-o` keeps make from ever installing it."""
    venv = Path(sys.executable).parent.parent
    result = subprocess.run(["make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed", *args],
                            cwd=course, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"make {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n"
                    f"{result.stderr[-3000:]}")
    return result


def command(course: Path, *args: str) -> SimpleNamespace:
    """`python -m bertlab.autograde ARGS` run in this process (no interpreter to start): exit
    status, stdout and stderr."""
    out, err, status = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            autograde_main([*args, "--config", str(course / "nbgrader_config.py")])
        except SystemExit as exit:
            status = exit.code or 0
    return SimpleNamespace(returncode=status, stdout=out.getvalue(), stderr=err.getvalue())


def hand_grades(course: Path) -> dict[tuple[str, str], dict]:
    """Every hand-graded cell's grade and comment in the gradebook, by (student, question)."""
    with Gradebook(f"sqlite:///{course / 'grading' / 'gradebook.db'}") as gradebook:
        found = {}
        for submission in gradebook.find_assignment(ASSIGNMENT).submissions:
            notebook = submission.notebooks[0]
            comments = {comment.name: comment for comment in notebook.comments}
            for grade in notebook.grades:
                if grade.name.startswith("why_"):
                    found[submission.student.id, grade.name] = {
                        "auto": grade.auto_score, "manual": grade.manual_score, "score": grade.score,
                        "needs_manual_grade": grade.needs_manual_grade,
                        "comment": comments[grade.name].manual_comment}
        return found


def read_form(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def write_form(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def feedback(course: Path, student: str) -> str:
    page = course / "grading" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
    return shown_text(page.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> SimpleNamespace:
    """The class graded once, step by step as an instructor would; what each step left."""
    require_program("bwrap")  # autograding runs each submission in bubblewrap
    require_program("make")
    course = tmp_path_factory.mktemp("hand_grading") / "course"
    (course / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(tiny_assignment(), course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    for name in ("Makefile", "nbgrader_config.py"):
        shutil.copy(ROOT / name, course / name)
    folder = course / "grading" / "handgrade" / ASSIGNMENT
    page, form, record = (folder / f"{WHY_SCALE}{suffix}" for suffix in (".html", ".csv", ".marks.json"))
    question = (f"ASSIGNMENT={ASSIGNMENT}", f"QUESTION={WHY_SCALE}")
    f = SimpleNamespace(course=course, page_path=page, form_path=form)

    make(course, "release")
    for student, answers in CLASS.items():
        hand_in(course, student, answers)
    make(course, "autograde", "JOBS=2")
    make(course, "feedback")  # the autograded feedback, before any hand grading
    f.autograded = hand_grades(course)

    # The questions, then the page and the form of why_scale.
    f.overview = command(course, "handgrade", ASSIGNMENT)
    f.handgrade = make(course, "handgrade", *question)
    f.page, f.form = page.read_text(encoding="utf-8"), read_form(form)

    # A form with bad rows (and one good one) is refused whole.
    rows = {row["student_id"]: row for row in f.form}
    bad = [{**rows["half"], "points": "1"}, {**rows["ada"], "student_id": "zed", "points": "1"},
           {**rows["ada"], "points": "two"}, {**rows["mallory"], "points": "-1"},
           {**rows["untouched"], "points": "3"}, {**rows["ada"], "points": "2"},
           {**rows["ada"], "student_id": FORMULA, "points": "1"}]
    write_form(form, bad)
    f.bad_marks = command(course, "marks", ASSIGNMENT, WHY_SCALE)
    f.after_bad_marks, f.record_after_bad_marks = hand_grades(course), record.exists()

    # The instructor fills the form; make handgrade will not write over it until it is entered.
    filled = [{**row, "points": MARKS[row["student_id"]][0], "comment": MARKS[row["student_id"]][1]}
              if row["student_id"] in MARKS else row for row in f.form]
    write_form(form, filled)
    f.filled_form = form.read_text(encoding="utf-8")
    f.overwrite = command(course, "handgrade", ASSIGNMENT, WHY_SCALE)
    f.form_after_overwrite = form.read_text(encoding="utf-8")
    f.marks = make(course, "marks", *question)
    f.marked = hand_grades(course)
    f.record = json.loads(record.read_text(encoding="utf-8"))["students"]

    make(course, "grades")
    f.grades = {row["student_id"]: row for row in read_form(course / "grading" / "grades.csv")}
    f.feedback = make(course, "feedback")
    f.feedback_pages = {student: feedback(course, student) for student in CLASS}

    # Grading again: nobody changed anything; then mallory hands in a changed answer, and the
    # instructor regrades her (forced: make autograde would have graded her too, as changed).
    f.autograde_again = make(course, "autograde")
    f.after_autograde_again = hand_grades(course)
    hand_in(course, "mallory", {**CLASS["mallory"], WHY_SCALE: MALLORY_AGAIN})
    f.regrade = make(course, "regrade", "STUDENT=mallory")
    f.after_regrade = hand_grades(course)
    f.handgrade_again = make(course, "handgrade", *question)
    f.page_again, f.form_again = page.read_text(encoding="utf-8"), read_form(form)

    # The instructor reads mallory's new answer and enters the form again, unchanged: the mark
    # now stands for it.
    f.confirm = command(course, "marks", ASSIGNMENT, WHY_SCALE)
    command(course, "handgrade", ASSIGNMENT, WHY_SCALE)
    f.form_confirmed = read_form(form)
    return f


def by_student(form: list[dict]) -> dict[str, dict]:
    return {row["student_id"]: row for row in form}


class Tags(html.parser.HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


# ------------------------------------------------------------------------------------------------
# The page and the form
# ------------------------------------------------------------------------------------------------

def test_the_overview_lists_each_question_and_what_is_left_to_grade(flow):
    assert flow.overview.returncode == 0, flow.overview.stderr
    assert flow.overview.stdout.splitlines()[:2] == [
        "why_cls (1 point): 2 to grade, 0 answer changed since graded, 0 graded, 2 no answer",
        "why_scale (2 points): 3 to grade, 0 answer changed since graded, 0 graded, 1 no answer"]


def test_the_page_shows_the_question_the_mark_scheme_and_every_answer(flow):
    text = shown_text(flow.page)
    assert "Question 1 (2 points). Why are the attention scores divided by" in text
    assert "Model answer: the dot product of two" in text and "1 point for the softmax saturating" in text
    for answer in (ADA, HALF, FORMULA, "Also: the scores get big, like"):
        assert " ".join(answer.split()) in text, answer
    for student in CLASS:
        assert f"'{student}'" in text
    # Those to grade first; the untouched answer last, as 0 and nothing to grade.
    assert text.index("To grade (3)") < text.index("No answer: 0 points, nothing to grade (1)")
    assert "0 of 2 points, from nbgrader: the answer is as released." in text
    assert "make marks ASSIGNMENT=01_tiny QUESTION=why_scale" in text


def test_the_mark_scheme_comes_from_solutions_because_the_gradebook_has_only_the_released_stub(flow):
    with Gradebook(f"sqlite:///{flow.course / 'grading' / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_notebook(ASSIGNMENT, ASSIGNMENT)
        assert {c.name: c.source for c in notebook.source_cells}[WHY_SCALE] == "YOUR ANSWER HERE"


def test_no_script_of_a_student_survives_in_the_page(flow):
    tags = Tags(flow.page).tags
    assert tags[2] == ("meta", {"http-equiv": "Content-Security-Policy", "content": tags[2][1]["content"]})
    assert "script-src 'self'" in tags[2][1]["content"] and "default-src 'none'" in tags[2][1]["content"]
    # The only scripts are the page's own MathJax, from files beside it.
    assert [attrs for tag, attrs in tags if tag == "script"] == [
        {"src": "feedback-assets/mathjax-config.js"}, {"src": "feedback-assets/tex-svg.js"}]
    assert not [tag for tag, _ in tags if tag in ("svg", "iframe", "object", "embed", "form", "style")][1:]
    assert [(tag, name) for tag, attrs in tags for name in attrs if name.lower().startswith("on")] == []
    links = [value for _, attrs in tags for name, value in attrs.items() if name in ("href", "src")]
    assert not [link for link in links if "javascript" in re.sub(r"[\x00-\x20]", "", link).lower()], links
    # What was removed is still there to read, as text.
    assert "&lt;script&gt;alert('script')&lt;/script&gt;" in flow.page
    assert (flow.page_path.parent / "feedback-assets" / "tex-svg.js").is_file()


def test_the_page_runs_nothing_and_loads_nothing_remote_in_a_browser(flow):
    from test_rendered_book import CHROMIUM_ARGS, chromium_path, require_browser

    sync_api = require_browser()
    seen = {"dialogs": [], "requests": []}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
        page = context.new_page()
        page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
        page.on("request", lambda request: seen["requests"].append(request.url))
        page.goto(flow.page_path.as_uri(), wait_until="load")
        page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).forEach((a) => a.click())")
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.wait_for_timeout(500)
        formulas = page.evaluate("() => document.querySelectorAll('mjx-container svg').length")
        browser.close()
    assert seen["dialogs"] == []
    assert [url for url in seen["requests"] if not url.startswith("file:")] == []
    assert formulas >= 4  # the question's, the scheme's, ada's and mallory's formulas, typeset offline


def test_the_form_has_a_row_per_student_and_no_cell_a_spreadsheet_would_run(flow):
    rows = by_student(flow.form)
    assert list(rows) == ["ada", "half", "mallory", "untouched"]  # to grade first, then no answer
    assert {row["status"] for name, row in rows.items() if name != "untouched"} == {"to grade"}
    assert rows["untouched"]["status"] == "no answer: 0 points, nothing to grade"
    assert all(row["points"] == "" and row["comment"] == "" and row["max_points"] == "2" for row in rows.values())
    assert rows["mallory"]["answer"].startswith("'" + FORMULA)  # shown as the text it is
    assert rows["ada"]["answer"] == ADA
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", row["answer_sha256"]) for row in rows.values())
    assert not [value for row in rows.values() for value in row.values() if value.startswith(("=", "+", "-", "@"))]


# ------------------------------------------------------------------------------------------------
# Entering the marks
# ------------------------------------------------------------------------------------------------

def test_a_bad_form_is_refused_whole_each_bad_row_named_with_its_fix(flow):
    assert flow.bad_marks.returncode != 0
    error = flow.bad_marks.stderr
    assert "6 rows to fix; nothing was entered" in error
    for expected in ["row 3 ('zed'): zed has no graded submission of 01_tiny: copy the id",
                     "row 4 ('ada'): points 'two' is not a number: write a number from 0 to 2",
                     "row 5 ('mallory'): points -1 is negative",
                     "row 6 ('untouched'): points 3 is more than the question's 2",
                     "row 7 ('ada'): a second row for ada (the first is row 4): keep one row per student",
                     "row 8 ('=cmd|' /C calc'!A0'): not a student id, which is 1 to 64 characters"]:
        assert expected in error, (expected, error)
    # Nothing entered, not even half's good row; no record written.
    assert flow.after_bad_marks == flow.autograded
    assert not flow.record_after_bad_marks


def test_a_form_with_marks_not_entered_is_not_written_over(flow):
    assert flow.overwrite.returncode == 2
    assert "holds marks not entered yet (row 2 ('ada'), row 4 ('mallory'))" in flow.overwrite.stderr
    assert "run make marks ASSIGNMENT=01_tiny QUESTION=why_scale first" in flow.overwrite.stderr
    assert flow.form_after_overwrite == flow.filled_form


def test_marks_and_comments_go_into_the_gradebook_as_written(flow):
    assert "2 marks and 2 comments entered for why_scale of 01_tiny" in flow.marks.stdout
    for student, (points, comment) in MARKS.items():
        grade = flow.marked[student, WHY_SCALE]
        assert (grade["manual"], grade["score"], grade["comment"]) == (float(points), float(points), comment)
        assert not grade["needs_manual_grade"]
        assert flow.record[student]["points"] == float(points)
    # The comment begins with "=": neutralised in the form, entered as the instructor wrote it.
    assert flow.marked["mallory", WHY_SCALE]["comment"].startswith("=No script")
    # An empty row changes nothing: half is still to be graded.
    assert flow.marked["half", WHY_SCALE] == flow.autograded["half", WHY_SCALE]
    assert flow.marked["half", WHY_SCALE]["manual"] is None and flow.marked["half", WHY_SCALE]["needs_manual_grade"]


def test_an_unanswered_question_is_0_without_the_instructor(flow):
    for student, question in [("untouched", WHY_SCALE), ("untouched", WHY_CLS), ("half", WHY_CLS)]:
        grade = flow.autograded[student, question]
        assert (grade["auto"], grade["manual"], grade["needs_manual_grade"]) == (0.0, None, False), (student, question)
    # The form was entered without a mark for untouched, who stays at 0.
    assert flow.marked["untouched", WHY_SCALE]["score"] == 0.0
    assert float(flow.grades["untouched"]["score"]) == 0.0


def test_grades_csv_totals_include_the_hand_given_points(flow):
    # 1 point of the autograded test, plus the hand-given points of why_scale; why_cls not graded yet.
    assert {s: float(row["score"]) for s, row in flow.grades.items()} == \
        {"ada": 3.0, "mallory": 1.5, "half": 1.0, "untouched": 0.0}
    assert {float(row["max_score"]) for row in flow.grades.values()} == {4.0}


def test_feedback_is_made_again_with_the_points_and_the_comment(flow):
    assert "feedback: 2 made for 01_tiny" in flow.feedback.stdout  # ada's and mallory's, no one else's
    ada = flow.feedback_pages["ada"]
    assert "Student's answer Score: 2.0 / 2.0" in ada and "Comments: Variance and saturation: both points." in ada
    mallory = flow.feedback_pages["mallory"]
    assert "Student's answer Score: 0.5 / 2.0" in mallory
    assert "Comments: =No script runs here, but: the scale keeps the softmax soft, not the numbers small." in mallory
    assert "Student's answer Score: 0.0 / 2.0" in flow.feedback_pages["untouched"]


# ------------------------------------------------------------------------------------------------
# Grading again
# ------------------------------------------------------------------------------------------------

def test_autograding_again_keeps_every_hand_grade(flow):
    assert "autograde: 0 graded now, 4 already graded and unchanged" in flow.autograde_again.stdout
    assert flow.after_autograde_again == flow.marked


def test_a_forced_regrade_keeps_every_hand_grade(flow):
    assert "autograde: 1 graded now, 0 already graded and unchanged" in flow.regrade.stdout
    kept = {key: (grade["manual"], grade["score"], grade["comment"]) for key, grade in flow.after_regrade.items()}
    assert kept == {key: (grade["manual"], grade["score"], grade["comment"]) for key, grade in flow.marked.items()}
    assert flow.after_regrade["mallory", WHY_SCALE]["score"] == 0.5


def test_a_changed_answer_keeps_its_grade_and_is_flagged_until_entered_again(flow):
    rows = by_student(flow.form_again)
    assert (rows["mallory"]["status"], rows["mallory"]["points"]) == ("answer changed since graded", "0.5")
    assert rows["mallory"]["answer"] == MALLORY_AGAIN
    assert (rows["ada"]["status"], rows["half"]["status"]) == ("graded", "to grade")
    text = shown_text(flow.page_again)
    assert "Answer changed since graded (1)" in text and MALLORY_AGAIN in text
    assert "the mark stands until you enter this row again" in text
    # Entered again (the same mark), the mark stands for the new answer.
    assert flow.confirm.returncode == 0, flow.confirm.stderr
    assert by_student(flow.form_confirmed)["mallory"]["status"] == "graded"
