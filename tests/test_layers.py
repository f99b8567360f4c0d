"""The packages' layer contracts ([tool.importlinter] in pyproject.toml, docs/architecture.md) hold:
contract/ at the bottom, then models/, engines/ (the seam, the clock and stats), scenarios/ and
hardware/ side by side, dashboards/, and bench/ (every command line and the run) on top; and no
module imports itself back through others."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_layer_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    p = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 broken" in p.stdout


def test_no_module_imports_itself_back():
    import grimp

    graph = grimp.build_graph("contract", "engines", "bench", "models", "scenarios", "hardware", "dashboards", cache_dir=None)
    cycles = sorted({tuple(sorted((m, t))) for m in graph.modules for t in graph.find_modules_directly_imported_by(m)
                     if graph.find_shortest_chain(importer=t, imported=m)})
    assert not cycles
