"""A stand-in for llama.cpp on a CPU where one of its kernels crashes (as AMX does on some Xeons).

It runs the real probe (llama.cpp on the tiny model), and when the kernel set it was given keeps
CRASH_WITH (CPU_REPACK: the one this build has everywhere) it then dereferences a null pointer:
the kernel kills it with a real SIGSEGV. Each call appends a line to CALLS_FILE when set, so a
test can tell a cached verdict from a new probe.
"""

import ctypes
import json
import os
import sys

from engines.llamacpp import probe as llamacpp_probe

CRASH_WITH = "CPU_REPACK"

if __name__ == "__main__":
    config = json.loads(sys.argv[1])
    if os.environ.get("CALLS_FILE"):
        with open(os.environ["CALLS_FILE"], "a") as fh:
            fh.write(json.dumps(config["extra_buffer_types"]) + "\n")
    code = llamacpp_probe.main(sys.argv)
    if CRASH_WITH in config["extra_buffer_types"]:
        ctypes.string_at(0)          # SIGSEGV, delivered by the kernel as for a real kernel bug
    sys.exit(code)
