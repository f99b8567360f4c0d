"""The health probe's child: the first things a run asks of llama.cpp, on a tiny model.

`python -m engines.llamacpp.probe CONFIG_JSON` loads the model with the run's settings
(kept extra buffer types, threads, GPU layers, flash attention, batch sizes), then runs a
multi-token prompt, single-token decodes and one multi-sequence batch. It prints one JSON line
and exits 0. A configuration that crashes kills it with a signal instead: that is the verdict the
parent (llamacpp_health) reads. It goes through LlamaCppBackend, so it exercises the run's own code.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    from engines.llamacpp.engine import LlamaCppBackend

    started = time.perf_counter()
    backend = LlamaCppBackend()
    loaded = backend.load(config["model_path"], {
        "n_ctx": 256, "n_threads": config["n_threads"], "n_gpu_layers": config["n_gpu_layers"],
        "flash_attn": config["flash_attn"], "n_batch": config["n_batch"], "n_ubatch": config["n_ubatch"],
        "extra_buffer_types": config["extra_buffer_types"]})
    vocab = loaded.vocab_size
    prompt = [(17 + 7919 * i) % vocab for i in range(64)]      # a 64-token batch: where AMX crashed
    decoded = len(list(backend.generate(prompt, 4)))           # then single-token decodes
    session = backend.batch_session(2, 128)                    # and two sequences in one batch
    batched = 0
    try:
        session.submit(0, prompt[:24], 3)
        session.submit(1, prompt[24:56], 3)
        while session.active:
            batched += len(session.step())
    finally:
        session.close()
    backend.unload()
    print(json.dumps({"decoded": decoded, "batched": batched, "kernels": loaded.engine_info["kernels"],
                      "seconds": round(time.perf_counter() - started, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
