"""llama.cpp's options, each with its one default: those `bench run` has flags for, and the kernel
choices --engine-option sets (engines/options.py)."""

from __future__ import annotations

from typing import Annotated

from engines.options import Choice, EngineOptions, engine_option

KERNEL_CHOICE = Choice("auto", "on", "off")


class LlamaCppFlags(EngineOptions):
    """llama.cpp's settings that `bench run` has flags for (--threads, --gpu-layers, ...)."""
    n_threads: int | None = None       # None: this machine's physical cores (threads.default_threads)
    n_gpu_layers: int = -1             # -1: every layer on the GPU where there is one
    n_ctx: int | None = None           # set by the run: what its scenarios need, or --ctx-size
    flash_attn: bool | None = None     # None: llama.cpp decides (auto)
    n_batch: int = 2048                # logical batch (--batch-size)
    n_ubatch: int = 512                # physical micro-batch (--ubatch-size)
    verbose: bool = False
    extra_buffer_types: list[str] | None = None   # set by prepare(): the kernels the probe chose

class LlamaCppOptions(LlamaCppFlags):
    # which of llama.cpp's CPU kernel paths to use; auto: all that pass the health probe here
    amx: Annotated[str, engine_option(KERNEL_CHOICE)] = "auto"
    repack: Annotated[str, engine_option(KERNEL_CHOICE)] = "auto"
