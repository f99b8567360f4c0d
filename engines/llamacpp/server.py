"""llama-cpp-python's OpenAI-compatible server, started on 127.0.0.1 for one run and always stopped.

`LlamaCppServer` owns the process: start() waits until it answers, stop() ends it (SIGTERM,
then SIGKILL) and is called from the run's `finally`, so a failure or Ctrl-C stops it too. On
Linux the server also asks the kernel to end it if bench dies without running `finally`
(SIGKILL, an unhandled SIGTERM).

`LlamaCppServerBackend` is the `openai` backend pointed at such a server: it measures
llama.cpp behind an HTTP serving stack on this machine. That server runs one request at a
time (one lock per model), so its throughput does not grow with concurrency; for batched
serving in-process use `--backend llamacpp`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from contract.device import Device
from contract.errors import BackendError
from engines.base import Capabilities, LoadedModel, Prepared
from engines.child_process import free_port
from engines.llamacpp.engine import LlamaCppBackend, offload_device
from engines.llamacpp.options import LlamaCppFlags, LlamaCppOptions
from engines.openai.engine import OpenAIBackend
from engines.options import EngineOptions, HTTPOptions

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 5.0

# Run the server module after asking to be sent SIGTERM when the parent goes (Linux prctl
# PR_SET_PDEATHSIG = 1), and exit at once if the parent is already gone. The server loads its
# model with the llama.cpp kernels the health probe chose (KERNELS_ENV) and, with flash attention
# left to llama.cpp, with llama.cpp's AUTO (see llamacpp.flash_attn_setting).
KERNELS_ENV = "RIGHTSIZE_LLAMACPP_SERVER_KERNELS"
_LAUNCH = ("import ctypes, json, os, runpy, signal, sys\n"
           "if sys.platform == 'linux':\n"
           "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
           "    if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
           f"setup = json.loads(os.environ.pop({KERNELS_ENV!r}, '{{}}'))\n"
           "if setup.get('extra_buffer_types') is not None:\n"
           "    from engines.llamacpp import kernels as llamacpp_kernels\n"
           "    llamacpp_kernels.use_only(setup['extra_buffer_types'])\n"
           "if setup.get('flash_attn_auto'):\n"
           "    from llama_cpp import llama_cpp as lib\n"
           "    lib.LLAMA_FLASH_ATTN_TYPE_ENABLED = lib.LLAMA_FLASH_ATTN_TYPE_AUTO\n"
           "sys.argv = ['llama_cpp.server'] + sys.argv[2:]\n"
           "runpy.run_module('llama_cpp.server', run_name='__main__')\n")


class LlamaCppServer:
    def __init__(self, model_path: Path, options: LlamaCppFlags | Mapping):
        self.model_path = Path(model_path)
        self.options = LlamaCppFlags.of(options, "llamacpp-server")
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        o = self.options
        args = {"--model": self.model_path, "--model_alias": self.model_path.stem, "--host": "127.0.0.1",
                "--port": self.port, "--n_ctx": o.context(), "--n_gpu_layers": o.n_gpu_layers,
                "--n_batch": o.n_batch, "--n_ubatch": o.n_ubatch, "--verbose": o.verbose,
                # By default it cuts a streaming response short when the next request arrives.
                "--interrupt_requests": False}
        if o.n_threads:
            args["--n_threads"] = args["--n_threads_batch"] = o.n_threads
        if o.flash_attn is not False:     # on, or auto (the launch stub makes it AUTO)
            args["--flash_attn"] = True
        return [sys.executable, "-c", _LAUNCH, str(os.getpid())] + [str(x) for kv in args.items() for x in kv]

    def start(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Start the server and wait until it answers; stop it again if anything goes wrong."""
        import httpx

        self.port = free_port()
        self._log = tempfile.TemporaryFile(prefix="rightsize-server-")   # noqa: SIM115 - the server writes it until stop()
        try:
            # Its own session: a Ctrl-C at the terminal reaches bench, whose `finally` stops it.
            setup = {"extra_buffer_types": self.kernels(), "flash_attn_auto": self.options.flash_attn is None}
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, KERNELS_ENV: json.dumps(setup)})
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise BackendError(f"the llama-cpp-python server exited with code {self.process.returncode}: "
                                       f"{self.log_tail()}", "rerun with --debug for the server's full log")
                try:
                    if httpx.get(f"{self.base_url}/v1/models", timeout=2.0).status_code == 200:
                        return self.base_url
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            raise BackendError(f"the llama-cpp-python server did not answer within {timeout_s:g} s",
                               "rerun with --debug for the server's log")
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        """Everything the server wrote so far (with verbose, its own account of each request)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kernels(self) -> list[str]:
        """The extra buffer types the server loads with: the run's choice (prepare), else the one this
        process keeps to (the test suite's, where some kernels crash)."""
        chosen = self.options.extra_buffer_types
        if chosen is not None:
            return list(chosen)
        from engines.llamacpp import kernels as llamacpp_kernels

        return llamacpp_kernels.in_use()

    def log_tail(self, lines: int = 3) -> str:
        return " | ".join(self.log().strip().splitlines()[-lines:])

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class LlamaCppServerOptions(LlamaCppFlags, HTTPOptions):
    """llama.cpp's flags for the server it starts; its kernels are probed as in-process, always auto."""


class LlamaCppServerBackend(OpenAIBackend):
    name = "llamacpp-server"
    capabilities = Capabilities(streaming=True, devices=("cpu", "cuda", "metal", "vulkan"),
                                quant_formats=("gguf",), local_model=True)
    engine_options = LlamaCppServerOptions
    model_format = "llamacpp"

    def __init__(self, api_key: str | None = None):
        super().__init__(api_key)
        self.server: LlamaCppServer | None = None

    def check_installed(self, extra: str) -> None:
        try:
            import fastapi  # noqa: F401
            import httpx  # noqa: F401
            import llama_cpp  # noqa: F401
            import sse_starlette  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError as exc:
            raise BackendError(f"the llama-cpp-python server is not installed ({exc.name} missing)",
                               f"pip install 'rightsize[{extra}]'") from None

    def prepare(self, quant: str | None, options: EngineOptions | Mapping) -> Prepared:
        o = LlamaCppServerOptions.of(options, self.name)
        # the same engine, probed the same way
        prepared = LlamaCppBackend().prepare(quant, LlamaCppOptions.keep(o.given()))
        prepared.options = o.with_(**LlamaCppServerOptions.keep(prepared.options.given()))
        return prepared

    def load(self, model_path: Path | str, options: EngineOptions | Mapping) -> LoadedModel:
        import llama_cpp

        o = LlamaCppServerOptions.of(options, self.name)
        model_path = Path(model_path)        # a GGUF file here, never a server's model name
        self.server = LlamaCppServer(model_path, o)
        url = self.server.start()
        loaded = super().load(model_path.stem, o.with_(base_url=url))
        loaded.path, loaded.n_ctx = model_path, o.context()
        gpu_layers = o.n_gpu_layers
        offload = bool(llama_cpp.llama_supports_gpu_offload()) and gpu_layers != 0
        # the layer count is the model's: read from the GGUF header, not the server
        loaded.device = offload_device(gpu_layers, _layers(model_path)) if offload else Device.CPU
        assert self.server.process is not None      # start() succeeded
        loaded.engine_info.update({"engine": "llama-cpp-python server", "server_pid": self.server.process.pid,
                                   "server_command": self.server.command()[4:]})
        return loaded

    def _local_tokenizer(self):
        # The server's own tokenizer code (llama.cpp) on the same file: counts as its completions do.
        from engines.openai.prompts import gguf_tokenizer

        return gguf_tokenizer(self.server.model_path) if self.server else None

    def unload(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def _layers(model_path: Path) -> int:
    from models.gguf_file import inspect_gguf

    return inspect_gguf(model_path).architecture().n_layers
