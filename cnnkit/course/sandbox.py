"""The grading sandbox: each student's kernel runs in bubblewrap, seeing only its own folder.

nbgrader stays outside as the trusted grader. The kernel it starts (through the kernelspec that
`install_kernel` writes into a grading workspace) runs inside ``bwrap`` with private user, PID,
IPC, UTS, cgroup, network and mount namespaces: an unprivileged uid, no capabilities, no route to
any network (not even the machine's loopback), a ``/proc`` of its own, the system and Python read
only, and one writable, size-limited folder holding a copy of the student's files. It talks to
nbgrader over IPC sockets in a folder shared with it. When the kernel ends, its PID namespace
ends, and every process the student's code started dies with it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

KERNEL_NAME = "cnnkit-sandbox"
SANDBOX_UID = 65534  # "nobody" inside the sandbox's user namespace
HOME = "/home/student"
DATA_MOUNT = "/sandbox/data"
KERAS_MOUNT = "/sandbox/keras"
SUBMISSION_MOUNT = "/sandbox/submission"
# Environment variables a kernel may inherit from the grader; everything else is cleared.
PASSED_ENV_PREFIXES = ("CNNKIT_", "NBGRADER_", "TF_", "OMP_", "OPENBLAS_", "MKL_", "LC_")
PASSED_ENV = ("LANG", "TZ", "KERAS_BACKEND")
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
                "/etc/localtime", "/etc/nsswitch.conf")
ENABLE_USERNS = ("Enable unprivileged user namespaces: `sysctl -w kernel.unprivileged_userns_clone=1`"
                 " (Debian) or, on Ubuntu 24.04+, `sysctl -w "
                 "kernel.apparmor_restrict_unprivileged_userns=0` (or an AppArmor profile that "
                 "allows bwrap to create user namespaces)")


@dataclass(frozen=True)
class SandboxSupport:
    """Whether student kernels can be isolated here, and if not, why and how to fix it.

    Attributes:
        available: bwrap runs here with every namespace the sandbox needs.
        reason: what is missing (empty when available).
        fix: what to do about it.
        process_limit: how the number of processes is capped: ``"cgroup"`` (a pids cgroup, as
            root), ``"rlimit"`` (RLIMIT_NPROC in the sandbox's user namespace, as a user) or
            ``"none"``.
    """

    available: bool
    reason: str = ""
    fix: str = ""
    process_limit: str = "none"

    def describe(self) -> str:
        """One line for the doctor and the grading report."""
        if self.available:
            return f"isolated with bubblewrap (process limit: {self.process_limit})"
        return f"cannot isolate student code: {self.reason}"


class SandboxUnavailable(RuntimeError):
    """Grading was asked to isolate student code on a machine where it cannot."""

    def __init__(self, support: SandboxSupport) -> None:
        super().__init__(f"{support.reason}. Fix: {support.fix}. Or grade without isolation "
                         "(student code then runs as you, able to read and change your files) "
                         "with --no-sandbox.")
        self.support = support

    def __reduce__(self) -> tuple:  # travels back from a Dask worker intact
        return (type(self), (self.support,))


@dataclass
class KernelSettings:
    """What one sandboxed kernel gets; written by the grader, read by the kernel launcher.

    Attributes:
        run_folder: the folder shared with the kernel for its connection file and IPC sockets.
        state_folder: a folder outside the sandbox where the launcher records the sandbox's
            pid and exit status (see `leftover_processes`).
        read_only: host paths bound read-only at the same path (Python, the cnnkit package).
        mounts: host path -> sandbox path, bound read-only (the data caches, the staged files).
        env: the kernel's whole environment.
        memory_bytes, cpu_seconds, max_processes, disk_bytes, open_files: the limits.
        cgroups: cgroup folders the launcher joins (as root: pids and CPU caps).
    """

    run_folder: str
    state_folder: str
    read_only: list[str] = field(default_factory=list)
    mounts: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    memory_bytes: int = 4 << 30
    cpu_seconds: int = 1200
    max_processes: int = 256
    disk_bytes: int = 512 << 20
    open_files: int = 1024
    cgroups: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> KernelSettings:
        return cls(**json.loads(Path(path).read_text()))


def _probe_bwrap() -> tuple[bool, str]:
    """Run ``true`` inside a sandbox as strict as a kernel's; return (worked, bwrap's message)."""
    command = ["bwrap", "--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
               "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--proc", "/proc",
               "--dev", "/dev", *_system_binds(), "--size", str(1 << 20), "--tmpfs", HOME, "true"]
    try:
        probe = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    return probe.returncode == 0, probe.stderr.strip()


_SUPPORT: SandboxSupport | None = None


def sandbox_support(refresh: bool = False) -> SandboxSupport:
    """Find out once whether bubblewrap can isolate student kernels on this machine."""
    global _SUPPORT
    if _SUPPORT is None or refresh:
        _SUPPORT = _detect_support()
    return _SUPPORT


def _detect_support() -> SandboxSupport:
    if not sys.platform.startswith("linux"):
        return SandboxSupport(False, f"grading isolation needs Linux namespaces; this is "
                              f"{sys.platform}", "grade on a Linux machine (or a Linux VM)")
    if shutil.which("bwrap") is None:
        return SandboxSupport(False, "bubblewrap (bwrap) is not installed",
                              "install it: `sudo apt-get install bubblewrap` (Debian/Ubuntu), "
                              "`sudo dnf install bubblewrap` (Fedora)")
    worked, message = _probe_bwrap()
    if not worked:
        detail = message or "no message"
        return SandboxSupport(False, f"bwrap cannot create its namespaces here ({detail})",
                              ENABLE_USERNS)
    process_limit = "cgroup" if os.geteuid() == 0 and cgroup_root("pids") else "rlimit"
    if os.geteuid() == 0 and process_limit != "cgroup":
        process_limit = "none"  # RLIMIT_NPROC does not bind root-owned processes
    return SandboxSupport(True, process_limit=process_limit)


def cgroup_root(controller: str) -> Path | None:
    """This process's cgroup folder for ``controller`` ("pids", "cpu") if it may create children."""
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):  # cgroup v1: one hierarchy per controller
            folder = Path("/sys/fs/cgroup") / controller / path.lstrip("/")
        elif controllers == "" and controller in _read("/sys/fs/cgroup/cgroup.controllers").split():
            folder = Path("/sys/fs/cgroup") / path.lstrip("/")
        else:
            continue
        if (folder / "cgroup.procs").is_file() and os.access(folder, os.W_OK):
            return folder
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cgroup_settings(max_processes: int, cpus: float) -> dict[str, dict[str, str]]:
    period = 100_000  # microseconds
    quota = str(max(1000, int(cpus * period)))
    return {"pids": {"pids.max": str(max_processes)},
            "cpu": {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": quota,
                    "cpu.max": f"{quota} {period}"}}


def make_cgroups(max_processes: int, cpus: float) -> list[Path]:
    """Create cgroups capping processes and CPU cores for one sandbox (as root, where possible).

    Returns the folders created (the launcher joins each); empty where cgroups are not writable.
    """
    if os.geteuid() != 0:
        return []
    name = f"cnnkit-{uuid.uuid4().hex[:12]}"
    folders = []
    for controller, files in _cgroup_settings(max_processes, cpus).items():
        root = cgroup_root(controller)
        if root is None:
            continue
        folder = root / name
        try:
            folder.mkdir(exist_ok=True)
            written = [_write(folder / file, value) for file, value in files.items()]
            if not any(written):
                raise OSError(f"no {controller} limit could be written")
        except OSError:
            remove_cgroups([folder])
            continue
        folders.append(folder)
    return list(dict.fromkeys(folders))


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def remove_cgroups(folders: list[Path]) -> int:
    """Kill whatever is still in the cgroups, remove them, and return how many processes were left."""
    left = 0
    for folder in folders:
        for _ in range(50):
            pids = [int(pid) for pid in _read(str(folder / "cgroup.procs")).split()
                    if _alive(int(pid))]
            if not pids:
                break
            left = max(left, len(pids))
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        try:
            folder.rmdir()
        except OSError:
            pass
    return left


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an exited process waiting to be reaped)."""
    state = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()[:1]
    return state not in ([], ["Z"], ["X"])


def _system_binds() -> list[str]:
    """bwrap arguments for the read-only system: /usr and its merged-/usr links, a little of /etc."""
    arguments: list[str] = []
    for folder in SYSTEM_FOLDERS:
        path = Path(folder)
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), folder]
        elif path.is_dir():
            arguments += ["--ro-bind", folder, folder]
    for file in SYSTEM_FILES:
        if Path(file).exists():
            arguments += ["--ro-bind", file, file]
    return arguments


def python_paths(never_expose: list[Path]) -> list[str]:
    """Folders a fresh kernel of this Python needs, read-only: its prefixes and import path.

    A folder that contains (or is) one of ``never_expose`` (the course, the repository holding
    solutions/) is left out; the cnnkit package folder is added on its own instead.
    """
    script = ("import sys, json, cnnkit; print(json.dumps([sys.prefix, sys.base_prefix, "
              "sys.exec_prefix, *sys.path, cnnkit.__path__[0]]))")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    listed = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True,
                                       text=True, check=True, cwd="/", env=env).stdout)
    package = Path(listed[-1]).resolve()
    hidden = [path.resolve() for path in never_expose]
    folders: list[str] = []
    for entry in listed:
        path = Path(entry).resolve() if entry else None
        if path is None or not path.exists() or path == Path("/"):
            continue
        if path != package and any(path == h or path in h.parents for h in hidden):
            continue
        folders.append(str(path))
    # The venv's interpreter is a link into the base installation: keep the link's own folder.
    folders.append(str(Path(sys.executable).parent))
    return list(dict.fromkeys(folders))


def kernel_environment(data_folder: Path | None, keras_datasets: Path | None) -> dict[str, str]:
    """The kernel's environment: a fixed base plus the grader's CNNKIT_, NBGRADER_, TF_ ... values."""
    env = {key: value for key, value in os.environ.items()
           if key.startswith(PASSED_ENV_PREFIXES) or key in PASSED_ENV}
    env.update({"HOME": HOME, "USER": "student", "LOGNAME": "student", "TMPDIR": "/tmp",
                "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
                "LANG": env.get("LANG", "C.UTF-8"), "MPLBACKEND": "Agg",
                "KERAS_HOME": KERAS_MOUNT if keras_datasets else f"{HOME}/.keras",
                "CNNKIT_OFFLINE": "1", "PYTHONNOUSERSITE": "1"})
    env.pop("CNNKIT_DATA_DIR", None)
    if data_folder is not None:
        env["CNNKIT_DATA_DIR"] = DATA_MOUNT
    return env


def bwrap_arguments(settings: KernelSettings, workdir_name: str) -> list[str]:
    """The bwrap command line (without the command) for one kernel.

    Args:
        settings: what the kernel may see and its limits.
        workdir_name: the name of the kernel's writable folder under /home/student (the lab).
    """
    workdir = f"{HOME}/{workdir_name}"
    # The writable tmpfs folders come first, so that read-only binds below them (a venv in
    # /tmp, say) are mounted on top instead of hidden.
    arguments = ["bwrap", "--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
                 "--hostname", "sandbox", "--cap-drop", "ALL", "--die-with-parent",
                 "--new-session", "--proc", "/proc", "--dev", "/dev",
                 "--size", str(settings.disk_bytes), "--tmpfs", HOME, "--dir", workdir,
                 "--size", str(64 << 20), "--tmpfs", "/tmp", *_system_binds()]
    for folder in settings.read_only:
        arguments += ["--ro-bind", folder, folder]
    for source, target in settings.mounts.items():
        arguments += ["--ro-bind", source, target]
    arguments += ["--bind", settings.run_folder, settings.run_folder, "--remount-ro", "/",
                  "--chdir", workdir, "--clearenv"]
    for key, value in sorted(settings.env.items()):
        arguments += ["--setenv", key, value]
    return arguments


def install_kernel(workspace: Path, settings: KernelSettings) -> dict[str, str]:
    """Write the sandboxed kernelspec and its settings into a grading workspace.

    Returns:
        The environment variables that make nbgrader (run in ``workspace``) find that kernel
        and put its connection file and sockets in the shared run folder.
    """
    kernels = workspace / "kernel" / "share" / "kernels" / KERNEL_NAME
    kernels.mkdir(parents=True)
    settings_file = workspace / "kernel" / "settings.json"
    settings.save(settings_file)
    spec = {"argv": [sys.executable, "-m", "cnnkit.course.sandbox_kernel", "launch",
                     str(settings_file), "{connection_file}"],
            "display_name": "Python 3 (cnnkit grading sandbox)", "language": "python",
            "interrupt_mode": "message", "metadata": {"debugger": False}}
    (kernels / "kernel.json").write_text(json.dumps(spec, indent=1))
    return {"JUPYTER_PATH": str(workspace / "kernel" / "share"),
            "JUPYTER_RUNTIME_DIR": settings.run_folder}


def nbgrader_kernel_config(run_folder: Path) -> str:
    """nbgrader configuration lines that force every notebook onto the sandboxed kernel.

    The kernel's connection file and IPC sockets go to ``run_folder``, the one folder of the
    workspace that the sandbox shares (nbgrader runs one kernel at a time per workspace).
    """
    connection_file = str(run_folder / "kernel.json")
    return (f"c.Execute.kernel_name = {KERNEL_NAME!r}\n"
            f"c.KernelSpecManager.allowed_kernelspecs = {{{KERNEL_NAME!r}}}\n"
            "c.KernelManager.transport = 'ipc'\n"
            f"c.KernelManager.connection_file = {connection_file!r}\n")


def leftover_processes(state_folder: Path) -> int:
    """Kill any sandbox whose kernel has ended but whose PID namespace still runs; count them.

    The launcher records each sandbox's first process (pid 1 of its PID namespace, as seen from
    here). Killing it kills every process in the namespace.
    """
    killed = 0
    for record in state_folder.glob("sandbox-*.json"):
        try:
            pid = json.loads(record.read_text() or "{}").get("child-pid")
        except json.JSONDecodeError:
            continue
        if isinstance(pid, int) and _in_other_pid_namespace(pid):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


class RunFolderGuard:
    """Stop a sandbox that writes into the folder it shares with the grader.

    That folder lies on the grader's disk and must be writable (the kernel creates its sockets
    there), so it is watched instead: past ``max_bytes`` or ``max_entries``, the sandbox is
    killed. Use as a context manager around the grading run; ``tripped`` says what happened.
    """

    def __init__(self, run_folder: Path, state_folder: Path, max_bytes: int = 1 << 20,
                 max_entries: int = 100, interval: float = 0.25) -> None:
        self.run_folder, self.state_folder = run_folder, state_folder
        self.max_bytes, self.max_entries, self.interval = max_bytes, max_entries, interval
        self.tripped = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> RunFolderGuard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval) and not self.tripped:
            size, entries = _usage(self.run_folder, self.max_entries)
            if size > self.max_bytes or entries > self.max_entries:
                self.tripped = (f"wrote {size >> 10:,} KiB in {entries} entries into the folder "
                                "it shares with the grader; its sandbox was stopped")
                leftover_processes(self.state_folder)


def _usage(folder: Path, max_entries: int) -> tuple[int, int]:
    """Bytes and entries under ``folder`` (links not followed), counting stops past max_entries."""
    size, entries, pending = 0, 0, [folder]
    while pending and entries <= max_entries:
        try:
            with os.scandir(pending.pop()) as scan:
                for entry in scan:
                    entries += 1
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        size += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return size, entries


def _in_other_pid_namespace(pid: int) -> bool:
    """Whether ``pid`` runs (is not a zombie) in a PID namespace other than this process's."""
    if not _alive(pid):
        return False  # gone, or exited and only waiting to be reaped: its namespace is empty
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    except OSError:
        return False
