"""A one-node SLURM cluster on localhost for the tests: munged, slurmctld and slurmd from Debian's packages.

Everything lives under one directory (a generated munge key, ``slurm.conf``, state, spool, logs,
PID files); the daemons run in the foreground as children of the test, so they are stopped by
their PIDs, and the commands (``sbatch``, ``squeue``, ``scancel``, ``sinfo``) find the cluster
through ``SLURM_CONF`` in :attr:`LocalSlurm.env`. It needs root (``SlurmUser=root``: jobs run
as root, as CI does) and the packages ``slurmctld slurmd slurm-client munge`` (``.ci/run``
installs them).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The programs the cluster needs; :func:`missing_programs` names those not on PATH.
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
#: Where a root user gets them (Debian 12 ships SLURM 22.05).
INSTALL_HINT = "apt-get install -y slurmctld slurmd slurm-client munge"


def missing_programs() -> list[str]:
    """The programs of :data:`PROGRAMS` not found on PATH (system paths included)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])
    return [p for p in PROGRAMS if shutil.which(p, path=path) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    """RealMemory to declare: a little below the machine's, or slurmd drains the node as 'Low RealMemory'."""
    with open("/proc/meminfo") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return int(kb / 1024 * 0.9)


@dataclass
class LocalSlurm:
    """A running one-node SLURM cluster (start it with :meth:`start`, stop it with :meth:`stop`)."""

    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    def log(self, daemon: str) -> str:
        """A daemon's log, for failure messages."""
        path = self.root / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"

    def _write_config(self) -> None:
        for d in ("state", "spool", "munge"):
            (self.root / d).mkdir(mode=0o700, parents=True, exist_ok=True)
        key = self.root / "munge" / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
        socket_path = self.root / "munge" / "munge.socket"
        self.conf.write_text("\n".join([
            "ClusterName=sedflowtest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={socket_path}",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/builtin",
            "MpiDefault=none",
            "ReturnToService=2",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MailProg=/bin/true",
            # a killed job's node is usable again at once (the default waits for its epilog)
            "KillWait=5",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_memory_mb()} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        self.env = {**os.environ, "SLURM_CONF": str(self.conf),
                    "PATH": os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])}
        self._munge = (key, socket_path)

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.root / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        log.close()

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> str:
        """A SLURM command against this cluster; its stdout."""
        r = subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def start(self, timeout: float = 60) -> LocalSlurm:
        """Write the configuration, start munged, slurmctld and slurmd, and wait for an idle node."""
        self._write_config()
        key, socket_path = self._munge
        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                               f"--socket={socket_path}", f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                               f"--seed-file={self.root / 'munge' / 'munged.seed'}",
                               f"--log-file={self.root / 'munged.log'}"])
        self._wait(lambda: socket_path.exists(), timeout, "munged's socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
        self._wait(lambda: self.run("sinfo", "-h", "-o", "%T", check=False).strip() == "idle", timeout,
                   "an idle node (sinfo)")
        return self

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}:\n"
                                   + "\n".join(f"--- {n}\n{self.log(n)[-3000:]}\n{(self.root / f'{n}.out').read_text()[-2000:]}"
                                               for n in dead))
            if ready():
                return
            time.sleep(0.3)
        raise TimeoutError(f"no {what} after {timeout:g} s:\n--- slurmctld\n{self.log('slurmctld')[-3000:]}\n"
                           f"--- slurmd\n{self.log('slurmd')[-3000:]}")

    def jobs(self) -> dict[str, str]:
        """Job id -> state of the cluster's jobs (squeue)."""
        out = self.run("squeue", "-h", "-o", "%i %T", check=False)
        return dict(line.split() for line in out.splitlines() if line.strip())

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged by their PIDs (SIGTERM, then SIGKILL)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.run("scancel", "--full", "--user", "root", check=False)
            deadline = time.monotonic() + 20
            while self.jobs() and time.monotonic() < deadline:
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt   # SIGTERM stops the daemons as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    """``python tests/slurm_harness.py DIR``: the tests' one-node cluster, by hand, until Ctrl-C or SIGTERM."""
    import argparse

    parser = argparse.ArgumentParser(description="Run the tests' one-node SLURM cluster (as root) until Ctrl-C.")
    parser.add_argument("directory", type=Path, help="its configuration, state, spool and logs (created)")
    args = parser.parse_args(argv)
    missing = missing_programs()
    if missing:
        parser.error(f"{', '.join(missing)} not installed: {INSTALL_HINT}")
    args.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cluster = LocalSlurm(args.directory.resolve())
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cluster.start()
        print(f"export SLURM_CONF={cluster.conf}", flush=True)
        while all(p.poll() is None for p in cluster.procs.values()):
            time.sleep(1)
        print("a daemon exited; stopping", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
