"""`bench quality` on the command line, and its table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from contract.result import Estimate, Outcome

NA = "n/a"


def _pm(e: Estimate, scale: float = 1.0, digits: int = 4) -> str:
    if e.value is None or e.uncertainty is None:
        return NA
    return f"{e.value * scale:.{digits}f} ± {e.uncertainty * scale:.{digits}f}"


def _f(value: float | None, spec: str) -> str:
    return NA if value is None else format(value, spec)


def _published(pub: dict | None, quant: str) -> str:
    row = (pub or {}).get("rows", {}).get(quant)
    if not row:
        return NA
    parts = [f"KLD {row['kld'][0]:.4f}"]
    if row.get("same_top"):
        parts.append(f"top-1 {row['same_top'][0]:.1%}")
    if row.get("ppl_ratio"):
        parts.append(f"PPL ratio {row['ppl_ratio'][0]:.4f}")
    return ", ".join(parts) + (f" (imatrix {row['imatrix']})" if row.get("imatrix") else "")


def quality_table(doc: Outcome):
    """One row per quant: KLD (mean ± its uncertainty, median, p99), top-1 agreement, PPL ratio, time;
    the published deltas in a column of their own, labelled as reference data."""
    from rich.table import Table

    q = doc.quality
    assert q is not None, "a quality outcome"
    ref = q.reference
    table = Table(title=f"{doc.model.get('id')}: each quant against {ref.quant} over {_f(q.windows, 'd')} windows "
                        f"of {_f(q.n_ctx, 'd')} tokens ({_f(q.scored_tokens, 'd')} scored) of {q.text.name}")
    pub = q.published
    cols = ["quant", "KLD mean ± se", "KLD median", "KLD p99", "top-1 agree", "PPL(Q) / PPL(ref)", "s / window"]
    if pub:
        cols.append(f"published ({pub['model']})")
    for c in cols:
        table.add_column(c, justify="left" if c in ("quant",) or c.startswith("published") else "right",
                         overflow="fold")
    for name, s in q.quants.items():
        k, timing = s.kld, s.timing or {}
        row = [name, _pm(k, digits=5), _f(k.median, ".5f"), _f(k.p99, ".5f"), _pm(s.same_top, 100, 2) + " %",
               _pm(s.ppl_ratio), _f(timing.get("s_per_window"), ".2f")]
        if pub:
            row.append(_published(pub, name))
        table.add_row(*row)
    notes = [q.what_it_measures]
    if ref.timing:
        t = ref.timing
        notes.append(f"reference {ref.quant}: {t['s_per_window']:.2f} s per window, {t['seconds']:.1f} s in all "
                     f"(load {t['load_s']:.1f} s)")
    for name, s in q.quants.items():
        if s.timing:
            t = s.timing
            notes.append(f"{name}: {t['seconds']:.1f} s for {t['windows']} windows (load {t['load_s']:.1f} s); "
                         f"PPL {_f(s.ppl.value, '.4g')} vs {_f(s.ppl_base.value, '.4g')}")
    if pub:
        notes.append(f"published: reference data, not measured here: {pub['source']} (observed {pub['observed']}); "
                     f"{pub['method']}; {pub['note']}")
    notes += [f"workaround: {w}" for w in q.workarounds]
    table.caption = "\n".join(notes)
    return table


@click.command("quality")
@click.option("--model", default="llama-3.1-8b", show_default=True,
              help="Catalog id (synthetic weights, built once) or an unquantized .gguf file (F16, BF16, F32), "
                   "which llama.cpp's quantizer then quantizes to each --quant.")
@click.option("--quant", default="Q8_0,Q4_K_M,Q2_K", show_default=True, help="Comma-separated quants to compare.")
@click.option("--reference", default="F16", show_default=True,
              help="What the quants are compared with (a catalog model's build; for a file, the file itself).")
@click.option("--text", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="UTF-8 text to score [default: Persuasion, chapters 1-6, public domain, shipped].")
@click.option("--ctx-size", type=int, default=512, show_default=True,
              help="Window length in tokens (llama-perplexity's -c); the second half of each is scored.")
@click.option("--chunks", type=int, default=None, help="Score only the first N windows (llama-perplexity's --chunks).")
@click.option("--threads", type=int, default=None, help="CPU threads (default: physical cores).")
@click.option("--gpu-layers", type=int, default=-1, show_default=True, help="Layers to offload to the GPU (-1 all).")
@click.option("--flash-attn/--no-flash-attn", default=None, help="[default: llama.cpp's auto]")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--label", default=None, help="Name for this machine in results (default: hostname).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome document as JSON.")
@click.pass_context
def quality_command(ctx, model, quant, reference, text, ctx_size, chunks, threads, gpu_layers, flash_attn, results_dir,
                    label, as_json):
    """What each quantization loses against its reference: KL divergence, top-1 agreement, perplexity."""
    from bench.quality.run import QualityConfig, execute
    from bench.ui import RichUI
    from contract.errors import BenchError

    if threads is not None and threads <= 0:
        raise BenchError(f"--threads must be positive, got {threads}", "for example --threads 4")
    debug = bool(ctx.obj and ctx.obj.get("debug"))
    config = QualityConfig(model=model, quants=[q for q in quant.split(",") if q.strip()], reference=reference,
                           text=text, n_ctx=ctx_size, chunks=chunks, results_dir=results_dir, label=label,
                           engine_options={"n_threads": threads, "n_gpu_layers": gpu_layers, "flash_attn": flash_attn,
                                           "verbose": debug})
    ui = RichUI(quiet=as_json)
    outcome = execute(config, ui)
    if as_json:
        click.echo(json.dumps(outcome.doc, indent=2))
    else:
        ui.console.print(quality_table(outcome.document))
        for err in outcome.doc["errors"]:
            ui.console.print(f"[red]error:[/red] {err}", highlight=False)
        ui.console.print(f"result: {outcome.path}", highlight=False)
    if outcome.warning:
        click.echo(f"warning: {outcome.warning}", err=True)
    sys.exit(outcome.exit_code)
