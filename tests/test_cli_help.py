"""`bench --help` lists every command from a table (bench/commands/main.py) without importing
any command: the table must say what each command's own help says, and stay light."""

import subprocess
import sys

from bench.commands.main import COMMANDS, load_command, main


def test_each_listed_line_is_the_commands_own_short_help():
    for name, (_, line) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert command.get_short_help_str(limit=10**6) == line, name


def test_every_command_of_the_group_is_listed_and_runs_its_help():
    from click.testing import CliRunner

    for name in COMMANDS:
        r = CliRunner().invoke(main, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Usage:" in r.output


def test_help_imports_no_command_and_no_pydantic():
    code = ("import sys\nfrom bench.commands.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules if m.startswith(('pydantic', 'rich', 'numpy', 'engines', "
            "'hardware', 'models', 'scenarios', 'dashboards', 'bench.commands.run')))\nprint('HEAVY', heavy)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "HEAVY []" in p.stdout, p.stdout
    assert "Commands:" in p.stdout and "run" in p.stdout
