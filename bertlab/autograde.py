"""What the course's grading adds to nbgrader (wired in by nbgrader_config.py).

- `StderrIsNotAFailure`: a library's warning on stderr does not zero a test cell.
- `SandboxedExecute`: each submission's kernel runs in its own bubblewrap sandbox, as an
  unprivileged user, with limits on CPU time, memory, processes and file size, no network, and
  nothing of the course mounted but the Python installation and the `bertlab` package: no
  `solutions/`, no hidden tests, no other submission, no gradebook. The grader (nbgrader, outside)
  talks to the kernel over Unix sockets in a folder that only the two of them share. A kernel that
  dies (`os._exit`, `exit()`, a signal, a resource limit) loses the rest of its cells, each marked
  with the reason; what it earned before stays earned.

Without bubblewrap (`apt-get install bubblewrap`), `SandboxedExecute` refuses to grade rather than
run student code with the instructor's rights.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer, Unicode

NOBODY = 65534  # the unprivileged user (and group) the student's kernel runs as
SANDBOX_HOME = "/submission"  # the kernel's working folder, the only one it may write to (and /tmp)


class StderrIsNotAFailure(NbGraderPreprocessor):
    """nbgrader gives 0 points to a test cell with any stderr output, so a library's warning (torch
    prints some) would zero a correct answer. After execution, this turns each stderr stream output
    into a stdout one, marked as such; a failing test still fails, by its exception."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    output["text"] = "".join("[stderr] " + line for line in output["text"].splitlines(True))
        return cell, resources


class SandboxUnavailable(Exception):
    """bubblewrap is missing: grading stops rather than run student code unconfined."""


def sandbox_mounts() -> list[Path]:
    """What the student's kernel may read: the system, the Python installation and its packages
    (torch, the embedded weights and data), and the bertlab package itself. Nothing else of the course."""
    import bertlab

    system = [Path(p) for p in ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc") if Path(p).exists()]
    python = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.prefix)}
    return system + sorted(python) + [Path(bertlab.__file__).resolve().parent]


def sandbox_command(*, work: Path, sockets: Path, cpu_seconds: int, memory_bytes: int, processes: int,
                    file_bytes: int) -> list[str]:
    """The command prefix that runs a program in the sandbox (see the module docstring)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (`apt-get install bubblewrap`): the course never runs a "
                           "submission outside its sandbox")
    # Every namespace but the user one (the drop to nobody below needs the real user ids).
    command = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    mounts = [p for p in sandbox_mounts() if not any(p != other and other in p.parents for other in sandbox_mounts())]
    # bwrap makes the folders above a mount point readable by root only: open them up first, or
    # nobody could not reach /root/.pyenv or the venv.
    above = sorted({a for p in [*mounts, sockets] for a in p.parents if a not in (Path("/"), Path("/tmp"))
                    and not any(a == m or m in a.parents for m in mounts)}, key=lambda a: len(a.parts))
    for folder in above:
        command += ["--perms", "0755", "--dir", str(folder)]
    for path in mounts:
        command += ["--ro-bind", str(path), str(path)]
    command += ["--bind", str(work), SANDBOX_HOME, "--bind", str(sockets), str(sockets), "--chdir", SANDBOX_HOME,
                "--clearenv", "--setenv", "HOME", SANDBOX_HOME, "--setenv", "PATH", "/usr/bin:/bin",
                "--setenv", "MPLBACKEND", "Agg", "--setenv", "OMP_NUM_THREADS", "2"]
    # Limits are set as root, then the program runs as nobody: RLIMIT_NPROC binds only a user that
    # is not root, and nobody owns nothing outside its working folder.
    command += [shutil.which("prlimit") or "prlimit", f"--cpu={cpu_seconds}", f"--as={memory_bytes}",
                f"--nproc={processes}", f"--fsize={file_bytes}", "--core=0", "--",
                shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                "--inh-caps=-all", "--"]
    return command


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts inside `sandbox_command`, reachable over Unix sockets."""

    sandbox_prefix: list[str] = []

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        # The kernel runs as nobody: it must read its connection file (jupyter writes it 0600).
        os.chmod(self.connection_file, 0o644)
        return self.sandbox_prefix + command


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the kernel in a fresh sandbox per notebook (see the module docstring)."""

    cpu_seconds = Integer(600, help="CPU seconds the kernel may use in all").tag(config=True)
    memory_bytes = Integer(6 << 30, help="address space of the kernel process, bytes").tag(config=True)
    processes = Integer(512, help="processes the unprivileged grading user may have at once").tag(config=True)
    file_bytes = Integer(64 << 20, help="largest file the kernel may write, bytes").tag(config=True)
    kernel_died = Unicode("The kernel stopped in this cell ({reason}); the cells after it were not run, so their "
                          "tests earn nothing.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        with tempfile.TemporaryDirectory(prefix="bertlab-sandbox-") as tmp:
            work, sockets = Path(tmp) / "work", Path(tmp) / "sockets"
            for folder in (work, sockets):
                folder.mkdir()
                folder.chmod(0o777)
            km = SandboxedKernelManager(kernel_name=self.kernel_name or "python3", transport="ipc",
                                        ip=str(sockets / "kernel"), connection_file=str(sockets / "connection.json"))
            # A signal would reach bwrap, not the kernel inside: interrupt by message (ipykernel
            # then interrupts itself), so a cell past its timeout stops and grading goes on.
            km.kernel_spec.interrupt_mode = "message"
            km.sandbox_prefix = sandbox_command(work=work, sockets=sockets, cpu_seconds=self.cpu_seconds,
                                                memory_bytes=self.memory_bytes, processes=self.processes,
                                                file_bytes=self.file_bytes)
            try:
                return super().preprocess(nb, resources, km=km)
            except (DeadKernelError, CellTimeoutError, RuntimeError) as error:  # the kernel died or stopped answering
                return self._after_a_dead_kernel(nb, resources, error)
            finally:
                if km.has_kernel:  # nbclient leaves a kernel it did not start running: stop the sandbox
                    run_sync(km.shutdown_kernel)(now=True)

    def _after_a_dead_kernel(self, nb, resources, error):
        """Mark the cell the kernel died in and every code cell after it with the reason (as errors:
        their tests earn nothing); cells before it keep their outputs."""
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        cells = [c for c in nb.cells if c.cell_type == "code"]
        executed = [c for c in cells if c.get("execution_count")]
        first_lost = cells.index(executed[-1]) if executed else 0
        # The last cell with an execution count is the one that was running when the kernel died,
        # unless it finished: then the next one never got an answer.
        for cell in cells[first_lost:]:
            cell.outputs = list(cell.get("outputs", []))
            if not any(o.get("output_type") == "error" for o in cell.outputs) or cell is cells[first_lost]:
                cell.outputs.append(NotebookNode(output_type="error", ename="KernelDied", evalue=reason,
                                                 traceback=[self.kernel_died.format(reason=reason)]))
        return nb, resources


def solution_code(source: str) -> str:
    """What a student who got everything right writes in a solution cell: the instructor's
    solution without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def fill_in_solutions(released: NotebookNode, source: NotebookNode, edit_cell=None) -> NotebookNode:
    """The released notebook with the source notebook's solution written into each solution cell
    (in place); `edit_cell(grade_id, code) -> code` may change what is written (a synthetic mistake)."""
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            code = solution_code(solutions[grade_id])
            cell.source = edit_cell(grade_id, code) if edit_cell else code
    return released
