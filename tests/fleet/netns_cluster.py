"""A real Ray cluster for the fleet tests: a head and worker nodes at 127.0.0.1, inside a network
namespace of its own with only `lo` up, so Ray cannot advertise (or reach) anything else.

Every command, the driver included, runs in that namespace through nsenter."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HEAD_PORT = 6390
# Ray's defaults notice a dead node after ~30 s; the node-death test wants seconds.
FAST_HEALTH_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_initial_delay_ms": "1000",
}


def unavailable_reason() -> str | None:
    """Why this machine cannot hold the test cluster, or None."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install 'rightsize[fleet]')"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a network namespace here: {probe.stderr.strip() or probe.returncode}"
    return None


class NetnsCluster:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="rightsize-ray-"))
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        self.nodes: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, **FAST_HEALTH_ENV, "RAY_USAGE_STATS_ENABLED": "0"}
        bindir = str(Path(sys.executable).parent)
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")
        self.ray = str(Path(bindir) / "ray")
        time.sleep(0.2)
        self.run(["ip", "link", "set", "lo", "up"], check=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{HEAD_PORT}"

    def prefix(self) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("env", self.env)
        return subprocess.run(self.prefix() + argv, **kwargs)

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("env", self.env)
        return subprocess.Popen(self.prefix() + argv, **kwargs)

    def add_node(self, name: str, resource: str, head: bool = False) -> None:
        """A node with one CPU, the custom resource `resource` and the label rightsize-name=NAME."""
        common = ["--block", "--num-cpus=1", f'--resources={{"{resource}": 1}}', f"--labels=rightsize-name={name}",
                  "--node-ip-address=127.0.0.1", "--object-store-memory=100000000", "--disable-usage-stats"]
        if head:
            argv = [self.ray, "start", "--head", f"--port={HEAD_PORT}", f"--temp-dir={self.tmp}",
                    "--include-dashboard=false", *common]
        else:
            argv = [self.ray, "start", f"--address={self.address}", *common]
        log = open(self.tmp / f"node-{name}.log", "w")   # noqa: SIM115 - the node writes it until it stops
        self.nodes[name] = self.popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for_nodes(self, count: int, timeout: float = 60.0) -> None:
        script = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                  "print(sum(n['Alive'] for n in ray.nodes()))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.run([sys.executable, "-c", script, self.address], capture_output=True, text=True, timeout=60)
            if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
                return
            time.sleep(1)
        raise RuntimeError(f"the test cluster did not reach {count} nodes; logs in {self.tmp}")

    def kill_node(self, name: str) -> None:
        """The node dies as a machine would: its raylet and everything under it, at once (SIGKILL)."""
        root = psutil.Process(self.nodes[name].pid)
        procs = [root, *root.children(recursive=True)]
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)

    def processes(self) -> list[psutil.Process]:
        """Every process in the namespace but its holder."""
        ns = os.readlink(f"/proc/{self.holder.pid}/ns/net")
        out = []
        for p in psutil.process_iter():
            if p.pid == self.holder.pid:
                continue
            try:
                if os.readlink(f"/proc/{p.pid}/ns/net") == ns:
                    out.append(p)
            except OSError:
                continue
        return out

    def stop(self) -> None:
        # never `ray stop`: it kills every Ray process on the machine, in any namespace, a user's cluster too
        procs = self.processes()
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(procs, timeout=10)
        self.holder.kill()
        self.holder.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
