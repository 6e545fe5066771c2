"""Stage 3, the executor: nbgrader's Execute with the kernel in a fresh sandbox per notebook
(sandbox.py), and only the probe of each test cell run there (bertlab/answers.py): the student's
answers are recorded, the verdict is not reached there.

Whatever the kernel does, it costs only its own student, and only from the cell where it happened:

- **A kernel that dies** (`os._exit`, a signal, a resource or time limit) loses the rest of its
  cells, each marked with the reason; what it earned before stays earned.
- **An output the grader cannot read** (JSON with a 20,000-digit integer, a list nested 5,000
  deep, text that is not UTF-8: see GraderSession) costs only itself: the cell gets a one-line
  note instead, and the next cell runs. In a test cell whose answers it was, the test earns
  nothing ("UnreadableAnswers", from the judge); in an ungraded cell it costs nothing.
- **A channel the grader cannot read** (a bad signature, a header it cannot decode, anything
  else `jupyter_client` raises on) ends the notebook the way a dying kernel does, with that
  reason: the kernel is stopped and nbgrader goes on to save the grades.
- **Only a test cell's own code records its answers**: each test cell's probe records them with
  a fresh random key, which the judge checks (bertlab/answers.py says how, and what a determined
  student can still do); before each test cell the grader clears the kernel's IPython event
  hooks, and the probe is not stored in the kernel's history. A record shown outside a test
  cell is replaced by a note.
- **Output is capped while it is produced**: bytes per cell and per notebook, of every kind
  (streams, displayed and returned data of any MIME type, tracebacks, widget messages). Past a cap
  a cell's further outputs are dropped and one note says so. The grader's own memory is bounded
  at the socket: a message over `message_bytes` (ZeroMQ's MAXMSGSIZE, per frame) is never read;
  ZeroMQ drops the connection instead, which the grader sees (a socket monitor), notes on the cell
  and connects again. At most `queued_messages` (ZeroMQ's RCVHWM) wait in the grader's queue, so
  what the grader holds of a kernel's output is bounded by about 64 x 8 MiB, whatever it sends.
  Measured (tests/test_executor.py): grading a notebook that prints a 200 MB line, prints for 8 s
  or shows a 100 MB image peaks at the same memory as grading an honest one (517 and 516 MiB).
  (MAXMSGSIZE bounds each frame of a message, not their number: a kernel that writes its own
  ZeroMQ messages of thousands of frames is not bounded by it.)
- **A cell past its timeout** is interrupted; one that ignores the interrupt for
  `interrupt_grace_seconds` has its kernel stopped, and it and the cells after it are marked so.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from queue import Empty

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer, Type, Unicode
from zmq.utils.monitor import recv_monitor_message

from bertlab.answers import MIME, recording_code, split_test_cell
from bertlab.autograde.cells import is_code_test
from bertlab.autograde.sandbox import (
    SOCKETS,
    SandboxedKernelManager,
    SandboxLimits,
    open_sandbox,
    sandbox_url,
)

MiB = 1 << 20
# What the executor learnt of each test cell it ran, for the judge: resources[RUN_NOTES][cell
# index] = {"nonce": the key the cell's record must carry, "unreadable": [why, ...] (outputs of
# the cell the grader could not read)}.
RUN_NOTES = "bertlab_run_notes"
UNREADABLE = "bertlab_unreadable"  # the content of a message the grader could not read: why
MAX_DEPTH = 100  # lists and mappings nested deeper than this in a message are not read
# Sent before each test cell, silently and outside the history: the kernel forgets every IPython
# event hook (pre_run_cell, post_run_cell, pre_execute, post_execute), so that none runs around
# the test's code. (A comprehension: it leaves no name in the student's namespace.)
CLEAR_HOOKS = (
    "[callbacks.clear() for callbacks in __import__('IPython').core.interactiveshell"
    ".InteractiveShell.instance().events.callbacks.values()]"
)


class KernelStopped(Exception):
    """The notebook cannot go on in this kernel: `reason` says why, in words for the student."""

    def __init__(self, reason: str, ename: str = "KernelStopped", elsewhere: str | None = None):
        super().__init__(reason)
        self.ename = ename
        self.elsewhere = elsewhere or reason  # the reason as the cells after this one tell it


class UnreadableMessage(Exception):
    """A message from the kernel that the grader could not decode."""

    ename = "UnreadableMessage"


# ------------------------------------------------------------------------------------------------
# The grader's end of the kernel's channels: bounded messages, decoding failures named
# ------------------------------------------------------------------------------------------------


class BoundedChannel(AsyncZMQSocketChannel):
    """A channel whose every failure to read a message is an UnreadableMessage saying why."""

    async def _recv(self, **kwargs):
        try:
            return await super()._recv(**kwargs)
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except (
            BaseException
        ) as error:  # a RecursionError, a ValueError of json, "Invalid Signature", ...
            detail = str(error).splitlines()[0][:200] if str(error).strip() else ""
            raise UnreadableMessage(
                f"The grader could not read a message the kernel sent "
                f"({type(error).__name__}{': ' + detail if detail else ''})"
            ) from error


class GraderSession(Session):
    """The grader's session: a message part it cannot decode within its limits (JSON that
    Python refuses, such as a 20,000-digit integer or NaN; lists nested deeper than MAX_DEPTH; text
    that is not UTF-8, or a lone surrogate, which no notebook file can hold) does not raise, which
    would cost the channel and the rest of the notebook: its content becomes {UNREADABLE: why}
    (a reply's, an error reply that says why). The signature is still checked first: a message
    that fails it still raises (BoundedChannel)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.unpack = unpack_within_limits

    def deserialize(self, msg_list, content=True, copy=True):
        message = super().deserialize(msg_list, content=content, copy=copy)
        unreadable = message["content"].get(UNREADABLE) if content else None
        if unreadable and message["msg_type"].endswith("_reply"):
            message["content"] = {
                "status": "error",
                "ename": "UnreadableMessage",
                "evalue": unreadable,
                "traceback": [f"The grader could not read the kernel's reply ({unreadable})."],
                "execution_count": None,
                UNREADABLE: unreadable,
            }
        return message


def unpack_within_limits(frame) -> dict:
    """One JSON part of a message, or {UNREADABLE: why} if it cannot be read within the limits
    (see GraderSession)."""
    try:
        text = frame if isinstance(frame, str) else bytes(frame).decode("utf-8")
        value = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        return {UNREADABLE: "text that is not UTF-8"}
    except RecursionError:
        return {UNREADABLE: "data nested too deep"}
    except ValueError as error:  # json.JSONDecodeError, or an integer of too many digits
        return {UNREADABLE: f"ValueError: {str(error).splitlines()[0][:120]}"}
    if not isinstance(value, dict):  # every part of a message is a mapping
        return {UNREADABLE: f"a part of the message that is a {type(value).__name__}"}
    why = _beyond_limits(value, check_text=re.search(r"\\u[dD][89a-fA-F]", text) is not None)
    return {UNREADABLE: why} if why else value


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _beyond_limits(value, check_text: bool) -> str | None:
    """Why `value` (decoded JSON) is beyond the limits, or None: walked without recursion."""
    todo = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                return f"data nested more than {MAX_DEPTH} deep"
            items = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            todo += [(part, depth + 1) for part in items]
        elif check_text and isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "text with a lone surrogate"
    return None


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse any message frame over `message_bytes` and queue at
    most `queued_messages` messages, and which can tell when a socket dropped its connection."""

    shell_channel_class = Type(BoundedChannel)
    iopub_channel_class = Type(BoundedChannel)
    stdin_channel_class = Type(BoundedChannel)
    control_channel_class = Type(BoundedChannel)

    message_bytes = Integer(4 * MiB)
    queued_messages = Integer(64)

    def _context_default(self):
        # A context of this client's own: the options below apply to every socket it makes, and
        # must be set before a socket connects (jupyter_client connects as soon as it makes one).
        self._created_context = True
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, self.message_bytes)
        context.setsockopt(zmq.RCVHWM, self.queued_messages)
        return context

    def _make_url(self, channel: str) -> str:
        # A client of a sandboxed kernel reaches its sockets as the manager does (sandbox.py).
        if isinstance(self.parent, SandboxedKernelManager):
            return sandbox_url(self, channel)
        return super()._make_url(channel)

    def _create_connected_socket(self, channel, identity=None):
        socket = super()._create_connected_socket(channel, identity)
        if not hasattr(self, "monitors"):
            self.monitors = {}
        # A sync view of the monitor, so that it can be read without awaiting.
        monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.monitors[channel] = (monitor, zmq.Socket.shadow(monitor.underlying))
        return socket

    def dropped(self, channel: str) -> bool:
        """Whether `channel`'s socket dropped its connection to a kernel that is still running,
        since the last call. ZeroMQ does that when a frame is over MAXMSGSIZE, and does not connect
        again by itself. (A kernel that ends closes its connections too: that is no drop.)"""
        monitors = getattr(self, "monitors", {})
        if channel not in monitors:
            return False
        _, monitor = monitors[channel]
        events = []
        while monitor.poll(0):
            events.append(recv_monitor_message(monitor)["event"])
        if zmq.EVENT_DISCONNECTED not in events:
            return False
        time.sleep(0.5)  # a kernel that ended has surely been reaped by now
        process = getattr(getattr(self.parent, "provisioner", None), "process", None)
        return process is not None and process.poll() is None

    async def reconnect_iopub(self, timeout: float = 10.0) -> None:
        """A fresh iopub socket, connected and subscribed (what the kernel published meanwhile is
        lost)."""
        old = self._iopub_channel
        self._iopub_channel = None
        if old is not None:
            old.close()
        deadline = time.monotonic() + timeout
        while (
            time.monotonic() < deadline
        ):  # until a kernel_info request's status messages come through
            self.kernel_info()
            try:
                await self.iopub_channel.get_msg(timeout=0.5)
                return
            except Empty:
                continue


# ------------------------------------------------------------------------------------------------
# The executor
# ------------------------------------------------------------------------------------------------


def stdout_note(text: str) -> NotebookNode:
    """A note of the grader's on a cell, shown as the cell's stdout (not an error: a note costs no
    points by itself)."""
    return NotebookNode(output_type="stream", name="stdout", text=text)


def output_bytes(output) -> int:
    """About how many bytes an output takes in the notebook (its JSON)."""
    return len(json.dumps(output, default=str))


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the kernel in a fresh sandbox per notebook, and only the probe of
    each test cell run there (see the module docstring)."""

    cpu_seconds = Integer(600, help="CPU seconds the kernel may use in all").tag(config=True)
    wall_seconds = Integer(900, help="seconds the kernel may live, sleeping or not").tag(
        config=True
    )
    memory_bytes = Integer(6 << 30, help="address space of each process in the sandbox, bytes").tag(
        config=True
    )
    sandbox_memory_bytes = Integer(
        8 << 30,
        help="memory of the whole sandbox (tmpfs included), bytes, where a cgroup can be made",
    ).tag(config=True)
    processes = Integer(512, help="processes (and threads) the sandbox may have at once").tag(
        config=True
    )
    file_bytes = Integer(64 << 20, help="largest file the kernel may write, bytes").tag(config=True)
    tmp_bytes = Integer(256 << 20, help="size of the sandbox's /tmp, bytes").tag(config=True)
    work_bytes = Integer(256 << 20, help="size of the kernel's working folder, bytes").tag(
        config=True
    )
    cell_output_bytes = Integer(
        2 * MiB, help="output a cell may produce, bytes (then it is cut)"
    ).tag(config=True)
    notebook_output_bytes = Integer(8 * MiB, help="output a notebook may produce, bytes").tag(
        config=True
    )
    answer_bytes = Integer(
        8 * MiB,
        help="recorded answers a test cell may send, bytes (the largest answer of "
        "the course's tests is 2.5 MiB)",
    ).tag(config=True)
    message_bytes = Integer(
        8 * MiB,
        help="largest message (frame) the grader reads from the kernel, bytes (at "
        "least answer_bytes)",
    ).tag(config=True)
    interrupt_grace_seconds = Integer(
        10, help="seconds an interrupted cell has to stop before its kernel is stopped"
    ).tag(config=True)
    kernel_died = Unicode(
        "The kernel stopped in this cell ({reason}); the cells after it were not run, so their "
        "tests earn nothing."
    ).tag(config=True)
    kernel_stopped = Unicode(
        "{reason}, so the grader stopped the kernel; the cells after this one were not run, so "
        "their tests earn nothing."
    ).tag(config=True)
    not_run = Unicode(
        "This cell was not run: the kernel was lost in an earlier cell ({reason})."
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        started = time.monotonic()
        self._running = None  # the index of the cell being run
        self._notebook_bytes, self._notebook_full = 0, False
        limits = SandboxLimits(
            cpu_seconds=self.cpu_seconds,
            wall_seconds=self.wall_seconds,
            memory_bytes=self.memory_bytes,
            processes=self.processes,
            file_bytes=self.file_bytes,
            tmp_bytes=self.tmp_bytes,
            work_bytes=self.work_bytes,
            sandbox_memory_bytes=self.sandbox_memory_bytes,
        )
        resources = {} if resources is None else resources
        self._run_notes = resources.setdefault(RUN_NOTES, {})
        self._run_notes.clear()  # (a notebook executed again starts afresh)
        with open_sandbox(limits, self.log) as sandbox:
            km = SandboxedKernelManager(
                kernel_name=self.kernel_name or "python3",
                transport="ipc",
                ip=f"{SOCKETS}/kernel",  # as the kernel sees it; the grader: sandbox.socket_url
                connection_file=str(sandbox.connection_file),
                session=GraderSession(),
            )
            # A signal would reach bwrap, not the kernel inside: interrupt by message (ipykernel
            # then interrupts itself), so a cell past its timeout stops and grading goes on.
            km.kernel_spec.interrupt_mode = "message"
            km.sandbox = sandbox
            km.client_class = f"{BoundedKernelClient.__module__}.{BoundedKernelClient.__name__}"
            km.client_options = {"message_bytes": self.message_bytes}
            try:
                return super().preprocess(nb, resources, km=km)
            except (
                Exception
            ) as error:  # the kernel died, stopped answering, or sent what cannot be read
                if (
                    self._running is None and sandbox.kernel_output.exists()
                ):  # it never started: its words say why
                    self.log.error(
                        "The sandboxed kernel did not start; it wrote: %s",
                        sandbox.kernel_output.read_bytes()[:2000].decode(errors="replace"),
                    )
                return self._after_a_lost_kernel(nb, resources, error, started)
            finally:
                if km.has_kernel:  # nbclient leaves a kernel it did not start running: stop it
                    try:
                        run_sync(km.shutdown_kernel)(now=True)
                    except Exception as error:  # (its context gone already): the sandbox's end
                        # below ends its processes all the same
                        self.log.debug("Stopping the sandboxed kernel: %r", error)
                if self.kc is not None:  # nor does it close the client of a kernel it did not start
                    self.kc.stop_channels()
                    self.kc = None

    def preprocess_cell(self, cell, resources, index):
        """Run a cell within its output caps; a test cell runs its probe and records its answers
        (the cell keeps its source)."""
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        self._running, self._cell_bytes, self._cut = index, 0, False
        self._in_test, self._answers_bytes = is_code_test(cell), 0
        self._unreadable_noted = self._stray_noted = False  # each note once a cell
        source = cell.source
        if self._in_test:
            parts = split_test_cell(cell.source)
            if parts.judged:
                nonce = secrets.token_hex(16)  # this cell's alone, this time: see answers.py
                self._run_notes[index] = {"nonce": nonce, "unreadable": []}
                cell.source = parts.probe + recording_code(parts.recorded, nonce)
        try:
            if not self._in_test:
                return super().preprocess_cell(cell, resources, index)
            # A test cell: no student's hook runs around it, and its source (with the key) stays
            # out of the kernel's history (In, _ih).
            run_sync(self._clear_hooks)()
            self._check_assign_resources(resources)
            cell = self.execute_cell(cell, index, store_history=False)
            return cell, self.resources
        except CellTimeoutError as error:
            if self._interrupted:  # the interrupt went unanswered
                raise KernelStopped(
                    f"This cell ran past its {self.timeout} s limit and did not stop when "
                    "interrupted",
                    ename="CellTimeoutError",
                    elsewhere=f"it ran past its {self.timeout} s limit and did not stop when "
                    "interrupted",
                ) from error
            if not self.kc.dropped("iopub"):
                raise
            # An oversized message cost the connection, and with it the cell's last messages.
            self._note_oversized(cell)
            run_sync(self.kc.reconnect_iopub)()
            return cell, resources
        finally:
            cell.source = source
            if self._interrupted:
                self._interrupted = False
                self.iopub_timeout = self._iopub_timeout
            if self.kc is not None and self.kc.dropped("iopub"):
                self._note_oversized(cell)
                run_sync(self.kc.reconnect_iopub)()

    _interrupted = False

    async def _clear_hooks(self) -> None:
        """Send CLEAR_HOOKS (silent, outside the history) and wait for its reply: the kernel runs
        it after the cells before, and before the test cell sent next."""
        request = self.kc.execute(
            CLEAR_HOOKS, silent=True, store_history=False, allow_stdin=False, stop_on_error=False
        )
        limit = self.timeout or 60
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await self.kc.shell_channel.get_msg(timeout=left)
            except Empty:
                break
            if reply["parent_header"].get("msg_id") == request:
                return
        raise KernelStopped(
            f"The kernel did not answer the grader's request before this test within {limit} s "
            "(a hook of the student's that does not end?)",
            ename="CellTimeoutError",
            elsewhere="it did not answer the grader's request before a test",
        )

    async def _async_handle_timeout(self, timeout, cell=None):
        # nbclient interrupts, then waits iopub_timeout for the cell to end: that wait is the grace.
        self._interrupted, self._iopub_timeout = True, self.iopub_timeout
        self.iopub_timeout = self.interrupt_grace_seconds
        return await super()._async_handle_timeout(timeout, cell)

    # --- Output caps ----------------------------------------------------------------------------

    def process_message(self, msg, cell, cell_index):
        """Count every message that would add to the notebook against the cell's and the
        notebook's caps; past either, the message and the rest of the cell's are dropped (and the
        cell says so, once). A test cell's recorded answers are the test's data, not the student's
        output: they have a budget of their own (`answer_bytes` per test cell), so that printing
        in a test cannot crowd them out, and they do not count against the notebook (the judge
        takes them out of the graded notebook)."""
        kind = msg["msg_type"]
        if UNREADABLE in msg["content"]:
            return self._note_unreadable(cell, cell_index, msg["content"][UNREADABLE])
        if kind in ("status", "execute_input", "clear_output"):
            return super().process_message(msg, cell, cell_index)
        size = output_bytes(msg["content"])
        data = msg["content"].get("data")
        records = isinstance(data, dict) and MIME in data
        if records and not self._in_test:  # no test's answers: named (once a cell), not kept
            if not self._stray_noted:
                self._stray_noted = True
                cell.outputs.append(
                    stdout_note(
                        "\nnot kept: answers recorded outside a test cell count for nothing.\n"
                    )
                )
            return None
        if records:
            if self._answers_bytes + size > self.answer_bytes:
                cell.outputs.append(
                    stdout_note(
                        "\noutput cut: this test's recorded answers are over "
                        f"{self._mib(self.answer_bytes)}; they were not kept.\n"
                    )
                )
                return None
            self._answers_bytes += size
            return super().process_message(msg, cell, cell_index)
        if self._cut or self._cell_bytes + size > self.cell_output_bytes:
            return self._cut_output(
                cell, f"this cell printed more than {self._mib(self.cell_output_bytes)}"
            )
        if self._notebook_full or self._notebook_bytes + size > self.notebook_output_bytes:
            self._notebook_full = True  # and stays so: no output of a later cell is kept either
            return self._cut_output(
                cell,
                f"this notebook printed more than {self._mib(self.notebook_output_bytes)} in all",
            )
        self._cell_bytes += size
        self._notebook_bytes += (
            size  # what is kept: a cell's cut output does not count against the rest
        )
        return super().process_message(msg, cell, cell_index)

    def _note_unreadable(self, cell, cell_index: int, why: str):
        """A message the grader could not read (GraderSession) costs only itself: the cell says so
        (once), and a test cell remembers it, for the judge."""
        if cell_index in self._run_notes and self._in_test:
            self._run_notes[cell_index]["unreadable"].append(why)
        if not self._unreadable_noted:
            self._unreadable_noted = True
            cell.outputs.append(
                stdout_note(f"\nnot kept: an output the grader could not read ({why}).\n")
            )
        return None

    @staticmethod
    def _mib(size: int) -> str:
        return f"{size / MiB:g} MiB"

    def _cut_output(self, cell, why: str):
        if not self._cut:
            self._cut = True
            cell.outputs.append(stdout_note(f"\noutput cut: {why}; the rest was not kept.\n"))
        return None

    def _note_oversized(self, cell):
        cell.outputs = list(cell.get("outputs", []))
        cell.outputs.append(
            NotebookNode(
                output_type="error",
                ename="OutputTooLarge",
                evalue=f"a single output over {self._mib(self.message_bytes)}",
                traceback=[
                    "output too large: this cell sent an output larger than "
                    f"{self._mib(self.message_bytes)} at once, which the grader does not read; it "
                    "and what the cell sent just after it were not kept."
                ],
            )
        )

    # --- The end of a kernel --------------------------------------------------------------------

    def _after_a_lost_kernel(self, nb, resources, error: Exception, started: float):
        """Mark the cell that was running when the kernel was lost, and every code cell after it,
        with the reason (as errors: their tests earn nothing); cells before it keep their
        outputs."""
        template, elsewhere = self.kernel_stopped, None
        if time.monotonic() - started >= self.wall_seconds - 1:
            ename, reason = (
                "KernelDied",
                f"the notebook ran out of its {self.wall_seconds} s of time in all",
            )
            template = self.kernel_died
        elif isinstance(error, (KernelStopped, UnreadableMessage)):
            ename, reason = error.ename, str(error)
            elsewhere = getattr(error, "elsewhere", reason)
        elif self.kc is not None and self.kc.dropped("shell"):
            ename = "OutputTooLarge"
            reason = (
                f"The kernel sent a message larger than {self._mib(self.message_bytes)}, which the "
                "grader does not read"
            )
        else:  # DeadKernelError, or jupyter_client's RuntimeError when a kernel does not start
            text = str(error).strip()
            ename, reason = "KernelDied", text.splitlines()[0] if text else type(error).__name__
            template = self.kernel_died
        self.log.warning("%s: %s", ename, reason)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        running = nb.cells[self._running] if self._running is not None else None
        first_lost = next((i for i, c in enumerate(cells) if c is running), 0)
        for cell in cells[first_lost:]:
            cell.outputs = list(cell.get("outputs", []))
            if cell is cells[first_lost]:
                message = template.format(reason=reason)
            elif any(o.get("output_type") == "error" for o in cell.outputs):
                continue
            else:
                told = elsewhere or reason
                message = self.not_run.format(reason=told[:1].lower() + told[1:])
            cell.outputs.append(
                NotebookNode(output_type="error", ename=ename, evalue=reason, traceback=[message])
            )
        return nb, resources
