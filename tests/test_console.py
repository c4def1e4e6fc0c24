"""The console script's cached help (bayesmeta/console.py) prints exactly what Typer prints, and only then."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import typer

from bayesmeta import console
from bayesmeta.cli import _register, app
from bayesmeta.cli import main as cli_main


def _commands() -> list[str]:
    _register()
    return sorted(typer.main.get_command(app).commands)


def _typer_output(argv: list[str], capsys) -> str:
    assert cli_main(argv) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("columns", ["200", "60"])
def test_cached_help_equals_typers_own_for_the_root_and_every_command(tmp_path, monkeypatch, capsys, columns):
    monkeypatch.setenv("BAYESMETA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", columns)
    commands = _commands() if columns == "200" else ["fit"]  # every command at full width; one narrow
    for argv in [["--help"], *([name, "--help"] for name in commands)]:
        expected = _typer_output(argv, capsys)
        assert console.main(argv) == 0  # a miss: Typer runs, its output is stored
        assert capsys.readouterr().out == expected
        stored = list((tmp_path / "help").glob(f"{console.help_key(argv)}.txt"))
        assert len(stored) == 1
        assert console.main(argv) == 0  # a hit
        assert capsys.readouterr().out == expected, argv
    assert "fit" in _commands()


def test_the_key_follows_arguments_width_and_source_files(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    wide = console.help_key(["--help"])
    assert console.help_key(["fit", "--help"]) != wide
    monkeypatch.setenv("COLUMNS", "70")
    assert console.help_key(["--help"]) != wide
    monkeypatch.setenv("COLUMNS", "120")  # click caps the width at 80 columns: same text, same key
    assert console.help_key(["--help"]) == wide

    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text("x = 1\n")

    def digest() -> str:
        d = hashlib.sha256()
        console._source_stats(str(tmp_path), d)
        return d.hexdigest()

    before = digest()
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "notes.txt").write_text("not a source")
    assert digest() == before
    source.write_text("x = 22\n")
    assert digest() != before


@pytest.mark.parametrize("columns, width", [("200", 78), ("80", 78), ("70", 68), ("30", 50)])
def test_help_width_is_clicks(monkeypatch, columns, width):
    from typer._click.formatting import HelpFormatter

    monkeypatch.setenv("COLUMNS", columns)
    assert console.help_width() == width == HelpFormatter().width


def test_only_plain_help_requests_are_answered_from_the_cache():
    assert console.help_request(["--help"])
    assert console.help_request(["fit", "--help"])
    assert not console.help_request([])
    assert not console.help_request(["fit", "data.csv", "--help"])
    assert not console.help_request(["--checks", "--help"])
    assert not console.help_request(["--help", "fit"])


def test_unknown_command_help_is_typers_error_and_is_not_stored(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAYESMETA_CACHE_DIR", str(tmp_path))
    assert console.main(["nosuchcommand", "--help"]) == 2
    assert "nosuchcommand" in capsys.readouterr().err
    assert not (tmp_path / "help").exists() or not any((tmp_path / "help").iterdir())


def test_old_help_texts_are_pruned(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAYESMETA_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "help"
    folder.mkdir()
    for i in range(console.KEEP + 5):
        old = folder / f"{i:064x}.txt"
        old.write_text("stale")
        os.utime(old, (1000 + i, 1000 + i))
    assert console.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage: bayesmeta")
    kept = sorted(p.name for p in folder.glob("*.txt"))
    assert len(kept) == console.KEEP and f"{console.help_key(['--help'])}.txt" in kept
    assert f"{0:064x}.txt" not in kept  # the oldest went first


def test_a_cache_hit_imports_neither_typer_nor_the_cli(tmp_path):
    code = """
import contextlib, io, json, sys
from bayesmeta.console import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    status = main(["--help"])
print(json.dumps({"status": status, "text": buf.getvalue(),
                  "loaded": sorted(m for m in ("typer", "click", "rich", "bayesmeta.cli") if m in sys.modules)}))
"""
    env = {**os.environ, "BAYESMETA_CACHE_DIR": str(tmp_path), "COLUMNS": "100"}
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                      check=True).stdout.splitlines()[-1]) for _ in range(2)]
    assert [r["status"] for r in runs] == [0, 0]
    assert "typer" in runs[0]["loaded"]  # the miss ran Typer
    assert runs[1]["loaded"] == []
    assert runs[1]["text"] == runs[0]["text"]
    assert runs[1]["text"].startswith("Usage: bayesmeta [OPTIONS] COMMAND [ARGS]...")
