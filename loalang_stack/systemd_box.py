"""A service manager of its own: the real systemd as PID 1 of new PID, mount and cgroup namespaces.

Tests run the board's unit (receiver_agent/deploy/loalang-agent.service) under it as a board would:
Type=notify, the watchdog, Restart=always. The box shares the machine's network and files; it gets
its own /run (where its units and its control socket live) and its own cgroup2 tree. systemd is told
it is in a container, sees no unit but the box's own (SYSTEMD_UNIT_PATH), runs no generator, and
starts only the target given: nothing of the machine's own boot (tmpfiles, mounts, services) runs.
A unit given to the box must not depend on the boot's targets (DefaultDependencies=no).
Commands such as `systemctl` run inside it through nsenter. Stopping the box kills its PID 1, which
takes every process in it along.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

TARGET = "loalang-box.target"
SETUP = """set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system
cp {units}/* /run/systemd/system/
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null \\
    || {{ umount -l /sys/fs/cgroup; mount -t cgroup2 none /sys/fs/cgroup; }}
mkdir -p /run/loalang-box/none
mount --bind {console} /dev/console  # systemd's own messages, which it writes to the console
export container=loalang-test
# Only the box's own units exist for it, and no generator runs: the machine's units (sysinit.target
# would clean /tmp by tmpfiles.d's rules, among much else) are not even seen.
export SYSTEMD_UNIT_PATH=/run/systemd/system
export SYSTEMD_GENERATOR_PATH=/run/loalang-box/none
export SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/loalang-box/none
exec {systemd} --system --unit={target} --log-target=console --log-level=info
"""


class SystemdBoxError(RuntimeError):
    """The box could not start, or a command in it failed."""


def available() -> str | None:
    """None when a box can run here, else why not."""
    for program in ("/lib/systemd/systemd", shutil.which("unshare"), shutil.which("nsenter")):
        if program is None or not Path(program).exists():
            return f"{program or 'unshare/nsenter'} is missing (util-linux, systemd)"
    if os.geteuid() != 0:
        return "a box needs root (namespaces, mounts)"
    return None


class SystemdBox:
    """systemd in its own namespaces, running the units it was given."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.units = folder / "units"
        self.units.mkdir(parents=True, exist_ok=True)
        self.log_file = folder / "systemd.log"  # what unshare and the setup say
        self.console = folder / "console.log"  # what systemd says
        self.process: subprocess.Popen[bytes] | None = None

    def add_unit(self, name: str, text: str) -> None:
        """A unit to load (before start)."""
        (self.units / name).write_text(text)

    def start(self, wants: list[str], timeout: float = 30.0) -> None:
        """Start systemd with a target that wants these units; wait until it answers."""
        self.add_unit(TARGET, "[Unit]\nDefaultDependencies=no\n" + "".join(f"Wants={u}\n" for u in wants))
        setup = self.folder / "setup.sh"
        self.console.touch()
        setup.write_text(SETUP.format(units=self.units, systemd="/lib/systemd/systemd", target=TARGET,
                                      console=self.console))
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount", "--cgroup", "--mount-proc", "--propagation",
                 "private", "bash", str(setup)], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemdBoxError(f"systemd exited:\n{self.tail()}")
            if self._answers():
                return
            time.sleep(0.2)
        raise SystemdBoxError(f"systemd did not answer within {timeout:.0f} s:\n{self.tail()}")

    def _answers(self) -> bool:
        """Whether the box's systemd answers on its control socket. (`is-system-running` is no test:
        it prints "offline" when nothing answers, and the box's PID 1 is bash until it execs systemd.)"""
        if self._pid1() is None:
            return False
        return self.run("systemctl", "show", "-p", "Version", "--value", check=False).returncode == 0

    def _pid1(self) -> int | None:
        """The host's id of the box's PID 1 (systemd): the child of unshare."""
        if self.process is None:
            return None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            found = children.read_text().split()
        except OSError:
            return None
        return int(found[0]) if found else None

    def run(self, *command: str, check: bool = True,
            timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command inside the box (its PID and mount namespaces: its systemctl, its /run)."""
        pid1 = self._pid1()
        if pid1 is None:
            raise SystemdBoxError("the box is not running")
        done = subprocess.run(["nsenter", "--target", str(pid1), "--mount", "--pid", *command],
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise SystemdBoxError(f"{' '.join(command)}: {done.stderr.strip() or done.stdout.strip()}")
        return done

    def show(self, unit: str, prop: str) -> str:
        """One property of a unit (`systemctl show -p`)."""
        return self.run("systemctl", "show", "-p", prop, "--value", unit).stdout.strip()

    def main_pid_on_host(self, unit: str) -> int | None:
        """The unit's main process as the machine numbers it (the box numbers it otherwise)."""
        inner = self.show(unit, "MainPID")
        if inner in ("", "0"):
            return None
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                lines = status.read_text().splitlines()
            except OSError:
                continue
            ns_pids = next((line.split()[1:] for line in lines if line.startswith("NSpid:")), [])
            if len(ns_pids) >= 2 and ns_pids[-1] == inner and self._in_box(int(status.parent.name)):
                return int(status.parent.name)
        return None

    def _in_box(self, pid: int) -> bool:
        pid1 = self._pid1()
        try:
            return pid1 is not None and os.readlink(f"/proc/{pid}/ns/pid") == \
                os.readlink(f"/proc/{pid1}/ns/pid")
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the box's PID 1, and with it everything in the box."""
        pid1 = self._pid1()
        if pid1 is not None:
            os.kill(pid1, signal.SIGKILL)
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def tail(self, lines: int = 40) -> str:
        """The end of systemd's own messages (its console), after what the setup said."""
        said: list[str] = []
        for path in (self.log_file, self.console):
            with contextlib.suppress(OSError):
                said += path.read_text(errors="replace").splitlines()
        return "\n".join(said[-lines:])
