"""`bench models` (the catalog x quantization ladder, and `pull`) and `bench plan` (what fits).

Nothing here loads an engine: sizes come from tensor plans, fit from models/fit.py.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import click

from contract.errors import BenchError, ModelError

if TYPE_CHECKING:
    from rich.console import JustifyMethod  # rich is imported only where a table is printed

GiB = 1 << 30
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_memory(text: str) -> int:
    """'24GB' -> bytes. Units are binary, as GPU makers and operating systems count memory:
    a "24 GB" card holds 24 GiB, so 24GB, 24G and 24GiB all mean 24 x 2**30."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not m or not m.group(2):
        raise BenchError(f"--memory {text!r} is not a size with a unit", "for example --memory 24GB or 512MB")
    size = int(float(m.group(1)) * _UNITS[m.group(2)])
    if size <= 0:
        raise BenchError(f"--memory must be positive, got {text!r}", "for example --memory 24GB")
    return size


def _gib(n: int) -> str:
    return f"{n / GiB:.2f} GiB"


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _specs(model_ids: str | None):
    from models.catalog import CATALOG, get_model

    if model_ids:
        return [get_model(m) for m in dict.fromkeys(_split(model_ids))]
    return [s for s in CATALOG.values() if s.listed]


def _formats(backend: str | None, quants: str | None):
    from models.formats import BACKENDS, LADDER, check_backend, get_format

    backends = [check_backend(b) for b in _split(backend)] or list(BACKENDS)
    if quants:
        if len(backends) != 1:
            raise BenchError("--quant needs a single --backend", "for example --backend llamacpp --quant Q4_K_M,Q8_0")
        return [get_format(backends[0], q) for q in dict.fromkeys(_split(quants))]
    return [f for f in LADDER if f.backend in backends]


def ladder_rows(model_ids: str | None = None, backend: str | None = None, quants: str | None = None) -> list[dict]:
    """One row per model x backend x quant: size on disk, weight bytes read per generated token,
    KV-cache bytes per token, and where the real weights live."""
    from models.formats import kv_bytes_per_token, weight_bytes

    rows = []
    for spec in _specs(model_ids):
        for fmt in _formats(backend, quants):
            w = weight_bytes(spec.architecture, fmt, spec.name)
            where = spec.sources.get(fmt.backend, fmt.quant)
            rows.append({
                "model": spec.id, "family": spec.architecture.family, "params": spec.architecture.param_count(),
                "backend": fmt.backend, "quant": fmt.quant,
                "file_bytes": w.file_bytes, "bytes_per_token": w.bytes_per_token,
                "kv_bytes_per_token": kv_bytes_per_token(spec.architecture, fmt),
                # GGUF sizes are llama.cpp's exact tensor plan; the others a layout estimate
                "size_method": "exact" if w.exact else "layout estimate",
                "synthetic": fmt.backend == "llamacpp",
                "download": where,
                "download_verified": None if where is None else spec.sources.is_verified(where),
            })
    return rows


def _print_ladder(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Catalog x quantization (~ = layout estimate; * = repo name unverified)", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("model", "left"), ("backend", "left"), ("quant", "left"), ("size on disk", "right"),
        ("read / token", "right"), ("KV / token", "right"), ("download", "left"))
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for r in rows:
        approx = "" if r["size_method"] == "exact" else "~"
        download = "-" if r["download"] is None else r["download"] + ("" if r["download_verified"] else " *")
        table.add_row(r["model"], r["backend"], r["quant"], approx + _gib(r["file_bytes"]),
                      approx + _gib(r["bytes_per_token"]), f"{r['kv_bytes_per_token'] / 1024:.0f} KiB", download)
    Console().print(table)


@click.group("models", invoke_without_command=True)
@click.option("--model", "model_ids", default=None, help="Comma-separated catalog ids (default: all).")
@click.option("--backend", default=None, help="Comma-separated: llamacpp, mlx, vllm, torch (default: all).")
@click.option("--quant", "quants", default=None, help="Comma-separated quants of one --backend (default: its ladder).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def models_command(ctx, model_ids, backend, quants, as_json):
    """List catalog models x quantization x backend: size on disk, weight bytes read per
    generated token and KV-cache bytes per token. `bench models pull` fetches one."""
    if ctx.invoked_subcommand is not None:
        return
    rows = ladder_rows(model_ids, backend, quants)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_ladder(rows)


@models_command.command("pull")
@click.argument("model")
@click.option("--quant", default="Q4_K_M", show_default=True, help="Quantization (the backend's ladder name).")
@click.option("--backend", default="llamacpp", show_default=True, help="llamacpp, mlx, vllm or torch.")
@click.option("--source", type=click.Choice(["synthetic", "hub"]), default="synthetic", show_default=True,
              help="synthetic: build the exact architecture with random weights (GGUF); "
                   "hub: download the real weights into the Hugging Face cache.")
def pull_command(model, quant, backend, source):
    """Materialise MODEL at --quant and print its path (a file, or a directory for non-GGUF formats)."""
    from bench.ui import RichUI
    from models.catalog import get_model
    from models.formats import get_format
    from models.resolve import HUB_PREFIX, resolve_model

    spec = get_model(model)
    fmt = get_format(backend, quant)
    if fmt.backend == "llamacpp":
        prefix = HUB_PREFIX if source == "hub" else ""
        click.echo(resolve_model(prefix + spec.id, fmt.quant, None, RichUI()).path)
        return
    if source == "synthetic":
        raise ModelError(f"synthetic builds are GGUF (llamacpp) only, not {fmt.backend}",
                         "use --source hub, or --backend llamacpp")
    from models.hub import download

    click.echo(download(spec, fmt.backend, fmt.quant))


def plan_rows(available: int, context: int, concurrency: int, backend: str = "llamacpp",
              model_ids: str | None = None, quants: str | None = None, flash_attn: bool = False) -> list[dict]:
    from models.fit import check_fit

    rows = []
    for spec in _specs(model_ids):
        for fmt in _formats(backend, quants):
            v = check_fit(spec, fmt.quant, context, concurrency, available, fmt.backend, flash_attn=flash_attn)
            rows.append({"model": spec.id, "backend": fmt.backend, "quant": fmt.quant, **v.to_dict(),
                         # the longest context each of `concurrency` sequences could have in the KV room
                         "max_context_per_sequence": min(v.max_kv_tokens // concurrency,
                                                         spec.architecture.max_context)})
    return rows


def _print_plan(rows: list[dict], header: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=header, title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("model", "left"), ("quant", "left"), ("fits", "left"), ("need", "right"),
        ("weights", "right"), ("KV", "right"), ("overhead", "right"), ("left for KV", "right"),
        ("max ctx / seq", "right"))
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for r in rows:
        table.add_row(r["model"], r["quant"], "[green]yes[/green]" if r["fits"] else "[red]no[/red]",
                      _gib(r["need_bytes"]), _gib(r["weights_bytes"]), _gib(r["kv_bytes"]), _gib(r["overhead_bytes"]),
                      _gib(r["kv_room_bytes"]), f"{r['max_context_per_sequence']:,}")
    Console().print(table)


@click.command("plan")
@click.option("--memory", default=None, help="Memory the engine may use, e.g. 24GB (binary units: 24GB = 24 GiB).")
@click.option("--hardware", "use_hardware", is_flag=True,
              help="Use this machine's memory (GPUs, else unified memory, else RAM).")
@click.option("--context", type=int, default=8192, show_default=True, help="Tokens per sequence (prompt + output).")
@click.option("--concurrency", type=int, default=1, show_default=True, help="Sequences in flight at once.")
@click.option("--backend", default="llamacpp", show_default=True, help="Comma-separated: llamacpp, mlx, vllm, torch.")
@click.option("--model", "model_ids", default=None, help="Comma-separated catalog ids (default: all).")
@click.option("--quant", "quants", default=None, help="Comma-separated quants of one backend (default: its ladder).")
@click.option("--flash-attn/--no-flash-attn", default=False, show_default=True,
              help="llama.cpp flash attention (smaller compute buffer at long context).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plan_command(memory, use_hardware, context, concurrency, backend, model_ids, quants, flash_attn, as_json):
    """Which catalog models x quants fit in memory for a context and concurrency, and how much
    memory is left for the KV cache."""
    if (memory is None) == (not use_hardware):
        raise BenchError("give exactly one of --memory and --hardware", "for example --memory 24GB")
    for name, value in (("--context", context), ("--concurrency", concurrency)):
        if value <= 0:
            raise BenchError(f"{name} must be positive, got {value}", f"for example {name} 8")
    if memory:
        available, where = parse_memory(memory), f"--memory {memory}"
    else:
        import hardware
        from models.fit import available_memory

        available, where = available_memory(hardware.probe())
    rows = plan_rows(available, context, concurrency, backend, model_ids, quants, flash_attn)
    if as_json:
        click.echo(json.dumps({"available_bytes": available, "memory_source": where, "context": context,
                               "concurrency": concurrency, "rows": rows}, indent=2))
    else:
        _print_plan(rows, f"{_gib(available)} ({where}), {concurrency} x {context} tokens, {backend}")
