"""Where a submission's code runs when the course grades it: a bubblewrap sandbox, as an
unprivileged user, with limits on CPU time, wall-clock time, memory, processes and file size, no
network, and nothing of the course mounted but the Python installation and the `bertlab` package:
no `solutions/`, no hidden tests, no other submission, no gradebook. The grader (nbgrader, outside)
talks to the kernel over Unix sockets in a folder that only the two of them share.

Without bubblewrap (`apt-get install bubblewrap`), `sandbox_command` refuses rather than let
student code run with the instructor's rights.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from jupyter_client import AsyncKernelManager

NOBODY = 65534  # the unprivileged user (and group) the student's kernel runs as
SANDBOX_HOME = "/submission"  # the kernel's working folder, the only one it may write to (and /tmp)


class SandboxUnavailable(Exception):
    """bubblewrap is missing: grading stops rather than run student code unconfined."""


def sandbox_mounts() -> list[Path]:
    """What the student's kernel may read: the system, the Python installation and its packages
    (torch, the embedded weights and data), and the bertlab package itself. Nothing else of the course."""
    import bertlab

    system = [Path(p) for p in ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc") if Path(p).exists()]
    python = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.prefix)}
    return system + sorted(python) + [Path(bertlab.__file__).resolve().parent]


def sandbox_command(*, work: Path, sockets: Path, cpu_seconds: int, wall_seconds: int, memory_bytes: int,
                    processes: int, file_bytes: int) -> list[str]:
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
    # The wall clock: `timeout` kills the program after wall_seconds, however it spends them
    # (sleeping costs no CPU time), and bwrap, the sandbox's init, then takes every process with it.
    command += [shutil.which("timeout") or "timeout", "--signal=KILL", str(wall_seconds)]
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
