"""`bench engines install llamacpp`: llama.cpp built for this machine's GPU (engines/llamacpp/build.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import click

from contract.errors import BackendError

DEVICE_NAMES = {"cuda": "CUDA", "metal": "Metal", "cpu": "the CPU"}


@click.group("engines")
def engines_command():
    """Install an inference engine built for this machine."""


@engines_command.command("install")
@click.argument("engine", type=click.Choice(["llamacpp"]))
@click.option("--device", type=click.Choice(["auto", "cuda", "metal", "cpu"]), default="auto", show_default=True,
              help="Build for this device. auto: CUDA where NVML sees an NVIDIA GPU and the CUDA toolkit (nvcc) is "
                   "here, Metal on macOS, else the CPU.")
@click.option("--dry-run", is_flag=True, help="Print the pip command that would run, and run nothing.")
@click.option("--force", is_flag=True, help="Rebuild even where the installed build already fits.")
def install(engine, device, dry_run, force):
    """Build llama-cpp-python (the version rightsize pins) for this machine's GPU, or its CPU.

    Prints the one pip command it runs; pip's wheel cache is bypassed, so that a CUDA build is never
    served a cached CPU wheel, nor the other way round."""
    import hardware
    from contract.device import Device
    from engines.llamacpp import build
    from hardware.gpus import gpus_for

    version = build.pinned_version()
    gpus = [g.name for g in gpus_for(hardware.probe(), Device.CUDA)]    # a CUDA build is for NVIDIA's GPUs
    target = build.choose_target(gpus, build.find_cuda_toolkit(), requested=device)
    have = build.installed_build()
    click.echo(f"llama.cpp for {DEVICE_NAMES[target.device]}: {target.why}")
    if target.warning:
        click.echo(f"warning: {target.warning}", err=True)
    if not force and have.version == version and have.device == target.device:
        click.echo(f"llama-cpp-python {version} is already built for {DEVICE_NAMES[target.device]} here: "
                   "nothing to do (--force rebuilds it)")
        return
    argv, env = build.install_command(version, target, installed=have.version is not None)
    click.echo(build.shell_line(argv, env))
    if dry_run:
        return
    sys.stdout.flush()
    rc = subprocess.run(argv, env={**os.environ, **env}).returncode
    if rc != 0:
        raise BackendError(f"pip could not build llama-cpp-python {version} (exit {rc}; its output is above)",
                           "for CUDA check that nvcc and a C++ compiler work; --device cpu builds for the CPU")
    got = build.probe_fresh()
    if got.version != version or got.device != target.device:
        found = got.error or f"version {got.version}, backends {', '.join(got.backends) or 'none'}"
        raise BackendError(f"pip installed llama-cpp-python but not a {DEVICE_NAMES[target.device]} build of "
                           f"{version} ({found})", "rerun with --force; CMAKE_ARGS in your environment are passed on")
    click.echo(f"llama-cpp-python {version} built for {DEVICE_NAMES[target.device]} "
               f"(ggml backends: {', '.join(got.backends)})")
