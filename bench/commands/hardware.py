"""`bench hardware`: what was detected and how each metric will be measured here."""

from __future__ import annotations

import json

import click

_STYLE = {"counter": "green", "measured": "green", "integrated": "cyan", "sampled": "cyan",
          "spec": "blue", "estimated": "yellow", "unavailable": "red"}


def _gib(n: int | None) -> str:
    return f"{n / 1024**3:.1f} GiB" if n else "?"


def _known(value: object) -> object:
    return "?" if value is None else value


@click.command("hardware")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--measure-bandwidth", is_flag=True,
              help="Run the memory-bandwidth probe now (a few seconds), replacing the cached result.")
def hardware_command(as_json: bool, measure_bandwidth: bool) -> None:
    """Show detected hardware, how energy, power, memory, bandwidth and throttling will be
    measured on this machine (counter, integrated, estimated or unavailable), and whether the
    installed llama.cpp survives this CPU (its health probe, cached per machine and build)."""
    from engines.llamacpp.health import health_report
    from hardware import bandwidth
    from hardware.plan import measurement_plan
    from hardware.probe import probe

    info = probe()
    bw = bandwidth.measured_bandwidth(info, refresh=True) if measure_bandwidth else bandwidth.cached_bandwidth(info)
    rows = measurement_plan(info, bandwidth=bw)
    health = [health_report()]
    if as_json:
        click.echo(json.dumps({"hardware": info.to_dict(), "plan": [r.to_dict() for r in rows],
                               "bandwidth": {d: m.to_dict() for d, m in bw.items()}, "engine_health": health},
                              indent=2))
        return
    _print_tables(info, rows, health)


def _print_tables(info, rows, health) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    c = info.cpu
    devices = Table(title="Detected hardware", title_justify="left")
    for col in ("device", "name", "details"):
        devices.add_column(col)
    isa = ", ".join(k for k, v in c.isa.items() if v) or "none detected"
    caches = " ".join(f"{k.upper()} {v // 1024} KiB" if v < 1024**2 else f"{k.upper()} {v // 1024**2} MiB"
                      for k, v in sorted(c.caches_bytes.items()))
    devices.add_row("cpu", c.model or "?",
                    f"{c.sockets or '?'} socket(s), {c.cores or '?'} cores, {c.threads or '?'} threads, "
                    f"RAM {_gib(c.ram_bytes)}{', virtualized' if c.virtualized else ''}\n"
                    f"ISA: {isa}\ncaches: {caches or '?'}\n{c.os}, kernel {c.kernel}")
    for g in info.gpus:
        link = g.pcie_link
        d = info.gpu_drivers.get(g.vendor)
        devices.add_row(g.device, g.name,
                        f"{_gib(g.memory_bytes)}, compute {g.arch}, power limit "
                        f"{g.power_limit_w} W, PCIe gen{_known(link.gen if link else None)} "
                        f"x{_known(link.width if link else None)}, "
                        f"MIG {'on' if g.mig_mode else 'off' if g.mig_mode is False else '?'}\n"
                        f"driver {d.driver_version if d else None}, {(d.runtime if d else None) or 'runtime'} "
                        f"{d.runtime_version if d else None}")
    if not info.gpus:
        for vendor, driver in info.gpu_drivers.items():     # why each vendor's driver gave no GPUs
            devices.add_row(vendor, "-", driver.reason or "no GPUs")
    if info.apple is not None:
        a = info.apple
        devices.add_row("apple", a.chip or "?", f"{a.p_cores}P + {a.e_cores}E cores, {a.gpu_cores} GPU cores, "
                                                 f"unified memory {_gib(a.unified_memory_bytes)}")
    console.print(devices)

    plan = Table(title="How each metric will be measured", title_justify="left")
    for col in ("metric", "device", "method", "why"):
        plan.add_column(col)
    for r in rows:
        style = _STYLE.get(r.method, "")
        plan.add_row(r.metric, r.device, f"[{style}]{r.method}[/]" if style else r.method, r.detail)
    console.print(plan)

    engines = Table(title="Engine health on this machine", title_justify="left")
    for col in ("engine", "verdict", "why"):
        engines.add_column(col)
    for h in health:
        style = {"ok": "green", "workaround": "yellow", "broken": "red"}.get(h["status"], "")
        engines.add_row(h["engine"], f"[{style}]{h['status']}[/]" if style else h["status"], escape(h["why"]))
    console.print(engines)
