"""A single-node Slurm cluster of this machine for the tests marked ``slurm``.

Debian's slurm-wlm and munge, started for the test and nothing else: a munge key made in a
temporary directory, munged, slurmctld and slurmd in the foreground with their own socket,
pid, log and state files there, free ports, and a ``slurm.conf`` written at run time
(``NodeName`` = this host's short name, ``proctrack/linuxproc``, ``task/none``, no
accounting). The clients (sbatch, squeue, scancel, as Kaldi's slurm.pl calls them) find it
through ``SLURM_CONF``. ``stop()`` cancels the cluster's jobs and ends the three daemons by
the pids it started, never by name.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo")
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PARTITION = "deepbrain"


def missing() -> list[str]:
    """The programs a single-node cluster needs that are not installed."""
    return [p for p in DAEMONS + CLIENTS if shutil.which(p, path=SEARCH) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SingleNodeSlurm:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.node = socket.gethostname().split(".")[0]
        self.procs: list[subprocess.Popen] = []

    # -- start --------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> "SingleNodeSlurm":
        try:
            self._start_munge()
            self._write_conf()
            for daemon in ("slurmctld", "slurmd"):
                self._spawn(daemon, [shutil.which(daemon, path=SEARCH), "-D", "-f",
                                     str(self.conf)])
            self._wait_for_idle_node(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.root / f"{name}.out", "wb")
        self.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=self.env))
        out.close()

    def _start_munge(self) -> None:
        # munged checks its directories: the key's private, the socket's reachable by all
        self.root.chmod(0o755)
        private, sock = self.root / "munge", self.root / "run"
        private.mkdir(mode=0o700)
        sock.mkdir(mode=0o755)
        key = private / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.socket = sock / "munge.socket"
        self._spawn("munged", [shutil.which("munged", path=SEARCH), "--foreground",
                               f"--key-file={key}", f"--socket={self.socket}",
                               f"--pid-file={private / 'munged.pid'}",
                               f"--log-file={private / 'munged.log'}",
                               f"--seed-file={private / 'munged.seed'}"])
        self._wait(lambda: self.socket.exists(), 20, "munged did not create its socket")

    def _write_conf(self) -> None:
        user = pwd.getpwuid(os.getuid()).pw_name
        r = self.root
        for d in ("ctld", "spool"):
            (r / d).mkdir()
        with open("/proc/meminfo") as f:
            mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        self.conf.write_text(f"""\
ClusterName=deepbraintest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
StateSaveLocation={r / 'ctld'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={r / 'slurmctld.log'}
SlurmdLogFile={r / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={mem_kb // 1024 // 2}
PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")

    def _wait_for_idle_node(self, timeout: float) -> None:
        def idle() -> bool:
            r = subprocess.run([shutil.which("sinfo", path=SEARCH), "-h", "-o", "%T"],
                               env=self.env, capture_output=True, text=True)
            return r.returncode == 0 and r.stdout.strip() == "idle"
        self._wait(idle, timeout, "the node did not come up idle")

    def _wait(self, ok, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not ok():
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > end:
                raise RuntimeError(f"single-node Slurm: {what} ({', '.join(dead) or 'timeout'} "
                                   f"; logs in {self.root}):\n{self.log_tails()}")
            time.sleep(0.2)

    def log_tails(self) -> str:
        parts = []
        for log in sorted(self.root.glob("*.out")) + sorted(self.root.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-6:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    # -- use ----------------------------------------------------------------------------------

    def kaldi_conf(self) -> str:
        """Kaldi's conf/slurm.conf for this cluster: slurm.pl's default options, the partition
        named (the default config asks for partitions 'shared'/'gpu'), KALDI_ROOT exported
        to the jobs (their ./path.sh needs it) and OMP_NUM_THREADS (OpenBLAS's thread count
        changes the last bits of nnet-forward's sums: a job and run.pl agree bit for bit only
        with the same count)."""
        return (f"command sbatch --export=PATH,KALDI_ROOT,OMP_NUM_THREADS --ntasks-per-node=1 "
                f"-p {PARTITION}\n"
                "option time=* --time $0\n"
                "option mem=* --mem-per-cpu $0\n"
                "option mem=0\n"
                "option num_threads=* --cpus-per-task $0 --ntasks-per-node=1\n"
                "option num_threads=1 --cpus-per-task 1 --ntasks-per-node=1\n"
                "default gpu=0\n"
                "option gpu=0\n")

    def jobs(self) -> list[str]:
        """Ids of the jobs the cluster knows (pending, running, recently ended)."""
        r = subprocess.run([shutil.which("squeue", path=SEARCH), "-h", "-o", "%i"],
                           env=self.env, capture_output=True, text=True)
        return r.stdout.split()

    # -- stop ---------------------------------------------------------------------------------

    def stop(self) -> None:
        if any(p.poll() is None for p in self.procs[1:]):
            for job in self.jobs():
                subprocess.run([shutil.which("scancel", path=SEARCH), job], env=self.env,
                               capture_output=True)
        for p in reversed(self.procs):   # slurmd, slurmctld, munged: each by its pid
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
