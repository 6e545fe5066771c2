"""Stage 3, the executor: nbgrader's Execute with the kernel in a fresh sandbox per notebook
(sandbox.py), and only the probe of each test cell run there (bertlab/answers.py): the student's
answers are recorded, the verdict is not reached there. A kernel that dies (`os._exit`, a signal, a
resource or time limit) loses the rest of its cells, each marked with the reason; what it earned
before stays earned.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from bertlab.answers import recording_code, split_test_cell
from bertlab.autograde.cells import is_code_test
from bertlab.autograde.sandbox import SandboxedKernelManager, sandbox_command


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the kernel in a fresh sandbox per notebook, and only the probe of
    each test cell run there (see the module docstring)."""

    cpu_seconds = Integer(600, help="CPU seconds the kernel may use in all").tag(config=True)
    wall_seconds = Integer(900, help="seconds the kernel may live, sleeping or not").tag(config=True)
    memory_bytes = Integer(6 << 30, help="address space of the kernel process, bytes").tag(config=True)
    processes = Integer(512, help="processes the unprivileged grading user may have at once").tag(config=True)
    file_bytes = Integer(64 << 20, help="largest file the kernel may write, bytes").tag(config=True)
    kernel_died = Unicode("The kernel stopped in this cell ({reason}); the cells after it were not run, so their "
                          "tests earn nothing.").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        """A test cell runs its probe and records its answers; the cell keeps its source."""
        if not is_code_test(cell):
            return super().preprocess_cell(cell, resources, index)
        parts, source = split_test_cell(cell.source), cell.source
        if parts.judged:
            cell.source = parts.probe + recording_code(parts.recorded)
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = source

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        started = time.monotonic()
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
            km.sandbox_prefix = sandbox_command(
                work=work, sockets=sockets, cpu_seconds=self.cpu_seconds, wall_seconds=self.wall_seconds,
                memory_bytes=self.memory_bytes, processes=self.processes, file_bytes=self.file_bytes)
            try:
                return super().preprocess(nb, resources, km=km)
            except (DeadKernelError, CellTimeoutError, RuntimeError) as error:  # the kernel died or stopped answering
                if time.monotonic() - started >= self.wall_seconds - 1:
                    error = f"the notebook ran out of its {self.wall_seconds} s of time in all"
                return self._after_a_dead_kernel(nb, resources, error)
            finally:
                if km.has_kernel:  # nbclient leaves a kernel it did not start running: stop the sandbox
                    run_sync(km.shutdown_kernel)(now=True)
                if self.kc is not None:  # nor does it close the client of a kernel it did not start
                    self.kc.stop_channels()
                    self.kc = None

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
