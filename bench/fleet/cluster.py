"""The Ray cluster as the fleet sees it: connect, list the alive nodes, pick the targets."""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.errors import BenchError

# `ray start --labels=rightsize-name=gpu-box-1`: the name a node's results carry; its hostname otherwise.
NAME_LABEL = "rightsize-name"
# Ray's own resources every node has; a --nodes selector naming one would match every node.
_ALWAYS_THERE = {"CPU", "memory", "object_store_memory"}


@dataclass
class Node:
    node_id: str
    name: str
    ip: str
    hostname: str
    alive: bool
    resources: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.node_id[:12]

    def identity(self) -> dict[str, Any]:
        """What a result records of the node it ran on (contract FleetNode, less the job key)."""
        return {"node_id": self.node_id, "name": self.name, "ip": self.ip, "hostname": self.hostname,
                "labels": dict(self.labels)}


def ray_module():
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BenchError("bench fleet needs Ray, which is not installed",
                         "pip install 'rightsize[fleet]'") from None
    return ray


def runtime_env(spec: str | None) -> dict[str, Any] | None:
    """--runtime-env: inline JSON or a JSON file; how the suite reaches the workers (README: Fleet)."""
    if not spec:
        return None
    inline = spec.lstrip().startswith(("{", "["))
    try:
        env = json.loads(spec if inline else Path(spec).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchError(f"cannot read the --runtime-env file {spec}: {exc.strerror or exc}",
                         "pass a JSON object, or the path of a file holding one") from None
    except ValueError as exc:
        raise BenchError(f"--runtime-env is not valid JSON: {exc}",
                         'pass a JSON object or a file holding one, e.g. {"pip": ["rightsize[llamacpp]"]}') from None
    if not isinstance(env, dict):
        raise BenchError("--runtime-env must be a JSON object", 'for example {"pip": ["rightsize[llamacpp]"]}')
    return env


def connect(address: str, env: dict[str, Any] | None = None) -> None:
    """Join the cluster at `address` (auto, HOST:PORT or ray://HOST:PORT) as a driver."""
    _check_reachable(address)         # first: a wrong address is the user's to fix, Ray installed or not
    ray = ray_module()
    try:
        ray.init(address=address, runtime_env=env, logging_level="ERROR", log_to_driver=False,
                 configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"could not connect to the Ray cluster at {address}: {first}",
                         "start one with `ray start --head`, or pass --address ray://HOST:10001") from None


# Ray retries an address that does not answer, or answers as something else, for minutes or
# without end; the driver says so within this long (a connect, then Ray's protocol's first answer).
CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 5.0
# Ray's GCS and its client server (ray://) are gRPC servers: cleartext HTTP/2, which answers the
# client's connection preface with a SETTINGS frame (RFC 9113, section 3.4).
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS = 0x04


def _check_reachable(address: str) -> None:
    """One line within CONNECT_TIMEOUT_S + ANSWER_TIMEOUT_S, not minutes of Ray's retries, when
    nothing listens at the cluster's address or something that is not Ray does."""
    target = address[len("ray://"):] if address.startswith("ray://") else address
    from_auto = target in ("auto", "")
    if from_auto:
        try:
            # where `auto` leads: $RAY_ADDRESS or Ray's record of the last `ray start` here (Ray's own lookup)
            from ray._private.services import canonicalize_bootstrap_address
            target = canonicalize_bootstrap_address("auto") or ""
        except ConnectionError:
            raise BenchError("no Ray cluster found here (--address auto)",
                             "start one with `ray start --head`, or pass --address HOST:6379 or ray://HOST:10001") from None
        except Exception:      # a Ray without that helper: ray.init reports for itself
            return
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise BenchError(f"--address {address!r} is not auto, HOST:PORT or ray://HOST:PORT",
                         "for example --address ray://head:10001")
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise BenchError(f"no Ray cluster answers at {target} ({exc.strerror or exc})"
                         + (" (where --address auto leads: $RAY_ADDRESS or the last `ray start` here)" if from_auto else ""),
                         "start one with `ray start --head`, or pass the head's --address") from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return             # a TLS cluster: its first answer is a handshake, for Ray to make
        what = _what_answers(sock)
    if what is not None:
        raise BenchError(f"no Ray cluster at {target}: {what}",
                         "pass the Ray head's address: HOST:6379 from `ray start --head`, or ray://HOST:10001") from None


def _what_answers(sock: socket.socket) -> str | None:
    """None where a gRPC (HTTP/2) server answers, as Ray does; else what happened, in a few words."""
    sock.settimeout(ANSWER_TIMEOUT_S)
    data = b""
    try:
        sock.sendall(_H2_PREFACE)
        while len(data) < 9:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        if not data:
            return f"the server there said nothing within {ANSWER_TIMEOUT_S:g} s"
    except OSError as exc:
        return f"the server there dropped the connection ({exc.strerror or exc})"
    if len(data) >= 9 and data[3] == _SETTINGS:
        return None
    if data.startswith(b"HTTP/"):
        status = data.split(b"\r\n", 1)[0].decode("latin-1")
        return f"an HTTP/1 server answered ({status})"
    if data.lstrip().startswith(b"<"):          # an error page without a status line (HTTP/0.9 style)
        return "an HTTP server answered (with a web page)"
    if not data:
        return "the server there closed the connection without a word"
    return f"a server of another protocol answered ({data[:24]!r})"


def cluster_nodes(raw: list[dict[str, Any]] | None = None) -> list[Node]:
    """Every node Ray knows, alive or not, named by its rightsize-name label or hostname; nodes
    that are alive and share a name (two raylets on one host) get the shortest start of their ids that tells them apart."""
    if raw is None:
        raw = ray_module().nodes()
    nodes = []
    for n in raw:
        labels = {k: str(v) for k, v in (n.get("Labels") or {}).items() if not k.startswith("ray.io/")}
        hostname = n.get("NodeManagerHostname") or n.get("NodeName") or ""
        nodes.append(Node(node_id=n["NodeID"], name=labels.get(NAME_LABEL) or hostname or n["NodeID"][:12],
                          ip=n.get("NodeManagerAddress") or "", hostname=hostname, alive=bool(n.get("Alive")),
                          resources=dict(n.get("Resources") or {}), labels=labels))
    groups: dict[str, list[Node]] = {}
    for n in nodes:
        if n.alive:           # a dead node and the one that rejoined in its place keep one name
            groups.setdefault(n.name, []).append(n)
    for name, same in groups.items():
        if len(same) > 1:
            k = next(k for k in range(6, 65) if len({n.node_id[:k] for n in same}) == len(same))
            for n in same:
                n.name = f"{name}-{n.node_id[:k]}"
    return nodes


def select(nodes: list[Node], spec: str | None) -> list[Node]:
    """The alive nodes that --nodes names: node ids (or 6+ leading characters), node names,
    labels as key=value, or resources such as GPU or accelerator_type:H100. None: every alive node."""
    alive = [n for n in nodes if n.alive]
    if not alive:
        raise BenchError("the Ray cluster has no alive node", "check `ray status` on the head node")
    if not spec:
        return alive
    chosen: list[Node] = []
    for selector in (s.strip() for s in spec.split(",")):
        if not selector:
            continue
        matched = [n for n in alive if _matches(n, selector)]
        if not matched:
            names = ", ".join(n.name for n in alive)
            raise BenchError(f"--nodes {selector!r} matches no alive node (alive: {names})",
                             "name a node, a node id, a label as key=value or a resource such as GPU")
        chosen.extend(n for n in matched if n not in chosen)
    return chosen


def _matches(node: Node, selector: str) -> bool:
    if selector in (node.node_id, node.name):
        return True
    if len(selector) >= 6 and re.fullmatch(r"[0-9a-f]+", selector) and node.node_id.startswith(selector):
        return True
    if "=" in selector:
        key, _, value = selector.partition("=")
        return node.labels.get(key.strip()) == value.strip()
    # a resource: GPU, accelerator_type:H100 (Ray writes it "accelerator_type:H100"), a custom one
    return selector not in _ALWAYS_THERE and node.resources.get(selector, 0) > 0
