"""Where a submission's code runs when the course grades it: a bubblewrap sandbox, as an
unprivileged user of its own, with limits on CPU time, wall-clock time, memory, processes, file
size and disk, no network, and nothing of the course mounted but the Python installation and the
`bertlab` package: no `solutions/`, no hidden tests, no other submission, no gradebook. The grader
(nbgrader, outside) talks to the kernel over Unix sockets on a small tmpfs of the sandbox's own
(`/run/kernel`, 1 MiB): the kernel binds them there; the grader opens each one from outside
through the sandbox's root (`/proc/<pid>/root`), refusing anything there that is not a socket (a
link would lead it elsewhere on the host), and connects through that open file (`/proc/self/fd/N`),
so that neither a link nor a process id used again can send it anywhere else. The connection file
is bound into the sandbox read-only. Nothing the kernel can write lies on the host's disk.

Nothing is shared between two sandboxes that one of them could use up:

- **Processes.** `RLIMIT_NPROC` counts the processes of a *user*, not of a sandbox: were every
  sandbox the same user (`nobody`), one submission that took every process slot would stop the
  kernels graded beside it from starting a thread. So each sandbox that runs at the same time gets
  a user id of its own, from a pool of ids no account uses (`SANDBOX_UIDS`, far above the ranges
  of real and sub-ordinate users). An id is claimed by holding a lock file on it (`fcntl.flock`)
  for the sandbox's life, so that concurrent graders (`make autograde JOBS=N`, several nbgrader
  processes) never share one; the lock goes with the process that holds it, even one killed. An
  id is only claimed when no process runs as it, and when the sandbox ends its processes are gone:
  bwrap's `--unshare-pid` makes the kernel's sandbox a process tree of its own, whose every
  process the Linux kernel kills when its first one (bwrap's init) dies, and `--die-with-parent`
  kills that one with bwrap; what is left after that (nothing, if all went well) is killed before
  the id is given back.
- **Disk.** The kernel's working folder and `/tmp` are each a tmpfs of bounded size (256 MiB by
  default), its sockets' folder one of 1 MiB: a write past it fails with "No space left on
  device"; nothing else is writable. Nothing is read back from any of them: the grader learns the
  answers from the kernel's messages only.
- **Memory.** Each process has its address-space limit; where the grader may create a cgroup
  (v1 `memory` and `pids` controllers, or v2 with both enabled for its children), the whole
  sandbox, tmpfs pages included, also gets a memory and a process limit in a cgroup of its own,
  removed when it ends. Where it may not, grading goes on without (a debug log line says so).

The kernel's own stdout and stderr (a subprocess's output, `os.write(1, ...)`) go to a file in
the sandbox's folder on the host (private to the grader, with the connection file), not to the
instructor's terminal; the file-size limit bounds it. That folder is removed afterwards by
`remove_tree`, which needs no recursion and follows no link, however deep the tree.

Without bubblewrap (`apt-get install bubblewrap`), `sandbox_command` refuses rather than let
student code run with the instructor's rights.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_client import AsyncKernelManager

# User ids no account uses: one per sandbox that runs at the same time (see the module docstring).
SANDBOX_UIDS = range(2_000_000_000, 2_000_000_256)
SANDBOX_HOME = "/submission"  # the kernel's working folder, the only one it may write to (and /tmp)
LOCKS = (
    Path(tempfile.gettempdir()) / "bertlab-sandbox-users"
)  # one lock file per user id in the pool
SOCKETS = "/run/kernel"  # inside the sandbox: the tmpfs the kernel binds its sockets on
SOCKETS_BYTES = 1 << 20  # its size: sockets take no room, so the kernel can store nothing there
CONNECTION_FILE = "/run/connection.json"  # inside the sandbox, read-only


class SandboxUnavailable(Exception):
    """bubblewrap is missing, or every sandbox user id is taken: grading stops rather than run
    student code unconfined or sharing a user with another sandbox."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandbox may use. Per process: CPU seconds, address space, file size. Per sandbox:
    wall-clock seconds, processes (its user's), bytes of /tmp and of its working folder, and, where
    a cgroup can be made, memory in all."""

    cpu_seconds: int = 600
    wall_seconds: int = 900
    memory_bytes: int = 6 << 30
    processes: int = 512
    file_bytes: int = 64 << 20
    tmp_bytes: int = 256 << 20
    work_bytes: int = 256 << 20
    sandbox_memory_bytes: int = 8 << 30


def sandbox_mounts() -> list[Path]:
    """What the student's kernel may read: the system, the Python installation and its packages
    (torch, the embedded weights and data), and the bertlab package itself. Nothing else of the
    course."""
    import bertlab

    system = [
        Path(p)
        for p in ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc")
        if Path(p).exists()
    ]
    python = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.prefix)}
    return system + sorted(python) + [Path(bertlab.__file__).resolve().parent]


def sandbox_command(*, connection_file: Path, uid: int, limits: SandboxLimits) -> list[str]:
    """The command prefix that runs a program in the sandbox, as `uid`, with `connection_file`
    (on the host) readable at CONNECTION_FILE (see the module docstring)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap is not installed (`apt-get install bubblewrap`): the course never runs a "
            "submission outside its sandbox"
        )
    # Every namespace but the user one (the drop to the sandbox's user below needs the real user
    # ids).
    command = [
        bwrap,
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/tmp",
    ]
    mounts = [
        p
        for p in sandbox_mounts()
        if not any(p != other and other in p.parents for other in sandbox_mounts())
    ]
    # bwrap makes the folders above a mount point readable by root only: open them up first, or
    # the sandbox's user could not reach /root/.pyenv or the venv.
    above = sorted(
        {
            a
            for p in mounts
            for a in p.parents
            if a not in (Path("/"), Path("/tmp"))
            and not any(a == m or m in a.parents for m in mounts)
        },
        key=lambda a: len(a.parts),
    )
    for folder in above:
        command += ["--perms", "0755", "--dir", str(folder)]
    for path in mounts:
        command += ["--ro-bind", str(path), str(path)]
    command += [
        "--perms",
        "1777",
        "--size",
        str(limits.work_bytes),
        "--tmpfs",
        SANDBOX_HOME,
        "--perms",
        "1777",
        "--size",
        str(SOCKETS_BYTES),
        "--tmpfs",
        SOCKETS,
        "--ro-bind",
        str(connection_file),
        CONNECTION_FILE,
        "--chdir",
        SANDBOX_HOME,
        "--clearenv",
        "--setenv",
        "HOME",
        SANDBOX_HOME,
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "MPLBACKEND",
        "Agg",
        "--setenv",
        "OMP_NUM_THREADS",
        "2",
    ]
    # The wall clock: `timeout` kills the program after wall_seconds, however it spends them
    # (sleeping costs no CPU time), and bwrap, the sandbox's init, then takes every process with it.
    command += [shutil.which("timeout") or "timeout", "--signal=KILL", str(limits.wall_seconds)]
    # Limits are set as root, then the program runs as the sandbox's user: RLIMIT_NPROC binds only
    # a user that is not root, and that user owns nothing outside the sandbox.
    command += [
        shutil.which("prlimit") or "prlimit",
        f"--cpu={limits.cpu_seconds}",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_bytes}",
        "--core=0",
        "--",
        shutil.which("setpriv") or "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--",
    ]
    return command


# ------------------------------------------------------------------------------------------------
# A user id of the sandbox's own
# ------------------------------------------------------------------------------------------------


def processes_of(uid: int) -> list[int]:
    """The ids of the processes running as `uid` (real user id), as /proc shows them now."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:  # it ended meanwhile
            continue
        real_uid = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), None
        )
        if real_uid == str(uid):
            found.append(int(entry.name))
    return found


@contextlib.contextmanager
def sandbox_user(uids: range = SANDBOX_UIDS, locks: Path = LOCKS):
    """Claim a user id of `uids` that no other sandbox holds and no process runs as, for the
    `with` block; afterwards, no process of it is left."""
    locks.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The folder sits in the host's /tmp: one that someone else made first could hand them the
    # locks (or links in place of lock files), so only the grader's own, private folder will do.
    info = locks.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise SandboxUnavailable(
            f"{locks} must be a folder of the grading user's own, mode 0700; it is not "
            "(someone else made it?): remove it and grade again"
        )
    for uid in uids:
        lock = os.fdopen(
            os.open(
                locks / f"{uid}.lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600
            ),
            "a",
        )
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another sandbox has it
            lock.close()
            continue
        if processes_of(uid):  # not ours to take: something outlived its sandbox, or uses the id
            lock.close()
            continue
        try:
            yield uid
        finally:
            end_processes_of(uid)
            lock.close()  # releases the lock
        return
    raise SandboxUnavailable(
        f"every sandbox user id ({uids.start}..{uids.stop - 1}) is taken: grade fewer "
        "students at a time"
    )


def end_processes_of(uid: int, wait_seconds: float = 5.0) -> None:
    """Wait a moment for the processes of a sandbox's user to end with their sandbox, then kill
    what is left (each by its id)."""
    deadline = time.monotonic() + wait_seconds
    while (left := processes_of(uid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------
# A cgroup for the whole sandbox, where one can be made
# ------------------------------------------------------------------------------------------------


class SandboxCgroup:
    """A memory and process limit on a whole sandbox, in cgroups of its own (v1 or v2), where the
    grader may create them. `procs` lists the files a process writes its id into to join them;
    empty where none could be made."""

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, name: str, memory_bytes: int, processes: int, log: logging.Logger):
        self.folders: list[Path] = []
        self.log = log
        own = dict(
            line.split(":", 2)[1:]
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if line.count(":") >= 2
        )
        if (self.ROOT / "cgroup.controllers").exists():  # v2: one tree
            plans = [
                (
                    self.ROOT / own.get("", "/").lstrip("/") / name,
                    {"memory.max": memory_bytes, "memory.swap.max": 0, "pids.max": processes},
                )
            ]
        else:  # v1: a tree per controller
            plans = [
                (
                    self.ROOT / "memory" / own.get("memory", "/").lstrip("/") / name,
                    {"memory.limit_in_bytes": memory_bytes},
                ),
                (
                    self.ROOT / "pids" / own.get("pids", "/").lstrip("/") / name,
                    {"pids.max": processes},
                ),
            ]
        for folder, limits in plans:
            try:
                folder.mkdir(exist_ok=True)
                self.folders.append(folder)
                for setting, value in limits.items():
                    if (folder / setting).exists() or setting != "memory.swap.max":
                        (folder / setting).write_text(str(value))
            except OSError as error:
                log.debug(
                    "No cgroup limit on the sandbox (%s: %s); the per-process limits still hold",
                    folder,
                    error,
                )
                self.remove()
                return

    @property
    def procs(self) -> list[Path]:
        return [folder / "cgroup.procs" for folder in self.folders]

    def command(self) -> list[str]:
        """A prefix that puts the program it starts into the cgroups first."""
        if not self.folders:
            return []
        joins = " && ".join(f"echo $$ > {shlex.quote(str(procs))}" for procs in self.procs)
        return ["/bin/sh", "-c", joins + ' && exec "$@"', "sh"]

    def remove(self) -> None:
        """Kill what is left in the cgroups (nothing, normally) and remove them."""
        for folder in reversed(self.folders):
            for _ in range(50):
                try:
                    left = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
                    for pid in left:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    folder.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                self.log.debug("Could not remove the sandbox's cgroup %s", folder)
        self.folders = []


# ------------------------------------------------------------------------------------------------
# The sandbox of one notebook, and its kernel
# ------------------------------------------------------------------------------------------------


class Sandbox:
    """One sandbox, ready to start a kernel in: `command` is the prefix, `connection_file` the
    kernel's connection file on the host, `kernel_output` where the kernel process's stdout and
    stderr go; `socket_url` is how the grader reaches one of the kernel's sockets."""

    def __init__(self, command: list[str], folder: Path, uid: int):
        self.command, self.folder, self.uid = command, folder, uid
        self.connection_file = folder / "connection.json"
        self.kernel_output = folder / "kernel-output.txt"
        self._sockets_folder: int | None = None  # an O_PATH descriptor of SOCKETS, once found
        self._sockets: dict[str, int] = {}  # socket name -> an O_PATH descriptor of it

    def socket_url(self, name: str, process, timeout: float = 60.0) -> str:
        """A ZeroMQ URL of the kernel's socket `name` (in SOCKETS), which the kernel started as
        `process` (the launched bwrap) binds: waits for it, then opens it without following a
        link and refuses it unless it is a socket. The URL names the open descriptor, which holds
        on to that socket's file whatever the kernel does to the name afterwards. If the sandbox
        ended first, a URL that leads nowhere (the kernel's end is noticed, and told, elsewhere)."""
        deadline = time.monotonic() + timeout
        while name not in self._sockets:
            if process.poll() is not None:
                return f"ipc://{self.folder}/no-kernel-{name}"  # the grader's own folder: empty
            if time.monotonic() > deadline:
                raise RuntimeError(f"the kernel made no socket {name} within {timeout:g} s")
            folder = self._find_sockets_folder(process.pid)
            try:
                if folder is None:  # the sandbox is not made yet
                    raise FileNotFoundError(SOCKETS)
                socket = os.open(name, os.O_PATH | os.O_NOFOLLOW, dir_fd=folder)
            except FileNotFoundError:  # not bound yet
                time.sleep(0.05)
                continue
            if not stat.S_ISSOCK(os.fstat(socket).st_mode):
                os.close(socket)
                raise RuntimeError(
                    f"{SOCKETS}/{name} in the sandbox is not the kernel's socket (a link or a "
                    "file put in its place?): the grader does not connect to it"
                )
            self._sockets[name] = socket
        return f"ipc:///proc/self/fd/{self._sockets[name]}"

    def _find_sockets_folder(self, bwrap_pid: int) -> int | None:
        """An O_PATH descriptor of SOCKETS as the sandbox sees it, once the kernel runs: reached
        through the root of bwrap's child (a process of root's, in the sandbox's mount namespace,
        that the student's code can neither change nor end before the sandbox ends)."""
        if self._sockets_folder is not None:
            return self._sockets_folder
        own = os.stat("/proc/self/ns/mnt").st_ino
        inside, kernel_runs, todo = None, False, [bwrap_pid]
        while todo:
            pid = todo.pop()
            try:
                info = os.stat(f"/proc/{pid}")
                if inside is None and os.stat(f"/proc/{pid}/ns/mnt").st_ino != own:
                    inside = pid if info.st_uid == 0 else None
                kernel_runs = kernel_runs or info.st_uid == self.uid
                todo += _children(pid)
            except (OSError, ValueError):  # it ended meanwhile
                continue
        if inside is None or not kernel_runs:  # the sandbox is not made yet
            return None
        folder = os.open(
            f"/proc/{inside}/root{SOCKETS}", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW
        )
        self._sockets_folder = folder
        return folder

    def close(self) -> None:
        """Let go of the kernel's sockets (the sandbox's tmpfs goes once nothing holds it)."""
        for descriptor in [*self._sockets.values(), self._sockets_folder]:
            if descriptor is not None:
                with contextlib.suppress(OSError):
                    os.close(descriptor)
        self._sockets, self._sockets_folder = {}, None


@contextlib.contextmanager
def open_sandbox(limits: SandboxLimits, log: logging.Logger):
    """A sandbox for one notebook (see the module docstring); everything of it is gone
    afterwards."""
    with sandbox_user() as uid:
        folder = Path(tempfile.mkdtemp(prefix="bertlab-sandbox-"))  # 0700: the grader's alone
        cgroup = SandboxCgroup(
            f"bertlab-sandbox-{uid}", limits.sandbox_memory_bytes, limits.processes, log
        )
        sandbox = Sandbox(
            cgroup.command()
            + sandbox_command(connection_file=folder / "connection.json", uid=uid, limits=limits),
            folder,
            uid,
        )
        try:
            yield sandbox
        finally:
            sandbox.close()
            end_processes_of(uid)
            cgroup.remove()
            remove_tree(folder)


def _children(pid: int) -> list[int]:
    """The ids of the processes `pid` started, from /proc (where the kernel lists no children,
    from each process's parent id)."""
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in listed.split()]
    except FileNotFoundError:  # a kernel built without CONFIG_PROC_CHILDREN
        found = []
        for entry in Path("/proc").iterdir():
            try:
                # The parent id: the 2nd field after the command's name (which ends at the last
                # ')': a name may hold spaces and brackets).
                if (
                    entry.name.isdigit()
                    and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid
                ):
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):  # it ended meanwhile
                continue
        return found


def remove_tree(path: Path | str) -> None:
    """Remove the folder `path` and everything in it, however deep, without recursion and without
    following links: each folder met is first moved up into `path` itself (renamed within open
    folder descriptors, so no path ever grows long), then emptied and removed. Only `path` itself
    is named by its full path, and it must be a folder, not a link to one."""
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        moved = 0
        todo = [entry.name for entry in os.scandir(top)]
        while todo:
            name = todo.pop()
            info = os.stat(name, dir_fd=top, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):
                os.unlink(name, dir_fd=top)
                continue
            folder = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
            try:
                for entry in list(os.scandir(folder)):
                    if entry.is_dir(follow_symlinks=False):
                        moved += 1
                        new_name = f".removing-{moved}"
                        while _exists(new_name, top):
                            moved += 1
                            new_name = f".removing-{moved}"
                        os.rename(entry.name, new_name, src_dir_fd=folder, dst_dir_fd=top)
                        todo.append(new_name)
                    else:
                        os.unlink(entry.name, dir_fd=folder)
            finally:
                os.close(folder)
            os.rmdir(name, dir_fd=top)
    finally:
        os.close(top)
    os.rmdir(path)


def remove_entry(path: Path | str) -> None:
    """Remove whatever is at `path`, if anything: a link or a file by unlinking it (a link is not
    followed), a folder with remove_tree (a student's tree may be of any depth)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        remove_tree(path)
    else:
        os.unlink(path)


def _exists(name: str, folder: int) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts inside `sandbox` (its command, its connection file,
    its sockets: see Sandbox), with its stdout and stderr sent to a file rather than to the
    grader's. Its clients reach the kernel the same way (`client_options` are given to each)."""

    sandbox: Sandbox | None = None
    client_options: dict = {}  # given to every client this manager makes

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        # The kernel runs as the sandbox's user: it must read its connection file (jupyter writes it
        # 0600); it lies in the grader's private folder, bound read-only into the sandbox.
        os.chmod(self.connection_file, 0o644)
        command = [CONNECTION_FILE if part == self.connection_file else part for part in command]
        return self.sandbox.command + command

    def _make_url(self, channel: str) -> str:
        return sandbox_url(self, channel)

    def cleanup_ipc_files(self) -> None:
        """Nothing to clean on the host: the sockets are on the sandbox's own tmpfs."""

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        output = open(self.sandbox.kernel_output, "ab")
        kw.update(stdout=output, stderr=subprocess.STDOUT)
        try:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            output.close()  # the kernel has its own copy

    def client(self, **kwargs):
        return super().client(**{**self.client_options, **kwargs})


def sandbox_url(connection, channel: str) -> str:
    """The URL `connection` (a SandboxedKernelManager or one of its clients) reaches the kernel's
    `channel` at: its socket in the sandbox (the connection file names it by SOCKETS)."""
    manager = connection if isinstance(connection, SandboxedKernelManager) else connection.parent
    port = getattr(connection, f"{channel}_port")
    process = getattr(manager.provisioner, "process", None)
    if process is None:
        raise RuntimeError("the sandboxed kernel was not started")
    return manager.sandbox.socket_url(f"{Path(connection.ip).name}-{port}", process)
