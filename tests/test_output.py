"""Tables line up in terminal columns: colour codes and wide characters never shift a column."""

from __future__ import annotations

import re
from pathlib import Path

from wcwidth import wcwidth

from gitwarden.output import display_width, paint, table
from tests.helpers.gitrepo import make_repo_with_agents, run_gitwarden, write

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _columns(line: str) -> list[str]:
    """The terminal cells of a printed line: a wide character fills two, colour none."""
    cells: list[str] = []
    for char in ANSI.sub("", line):
        cells.extend([char] + [""] * (max(wcwidth(char), 1) - 1))
    return cells


def assert_aligned(text: str) -> None:
    """Every row starts a cell at each column where the header starts one (after two spaces)."""
    header, *rows = [line for line in text.splitlines() if line.strip()]
    cells = _columns(header)
    starts = [i for i, c in enumerate(cells)
              if c not in (" ", "") and i >= 2 and cells[i - 2:i] == [" ", " "]]
    for row in rows:
        row_cells = _columns(row)
        for start in starts:
            if start < len(row_cells):
                assert row_cells[start - 1] == " " and row_cells[start] not in (" ", ""), \
                    f"row shifted at column {start}:\n{header}\n{ANSI.sub('', row)}"


def test_display_width_ignores_colour_and_counts_wide_characters() -> None:
    assert display_width("\x1b[31mpaused\x1b[0m") == 6
    assert display_width("日本語") == 6
    assert display_width("e\u0301") == 1  # a combining accent takes no column
    assert display_width("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == 4


def test_table_with_colour_and_wide_characters_lines_up(monkeypatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    red = paint("paused", "red")
    assert red.startswith("\x1b[31m")
    text = table(["agent", "state", "path"],
                 [["alpha", red, "src/app.py"], ["日本語", "ok", "docs/説明.md"],
                  ["beta", paint("done", "yellow"), "-"]])
    assert_aligned(text)
    assert ANSI.sub("", text).splitlines()[1] == "alpha   paused  src/app.py"
    assert ANSI.sub("", text).splitlines()[2] == "日本語  ok      docs/説明.md"


def test_no_color_wins_over_force_color(monkeypatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint("x", "red") == "x"


def test_status_table_lines_up_with_colour_forced_on(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "日本語", "gamma"))
    write(repo.agents["alpha"], {"src/app.py": "print('alpha')\n"})
    write(repo.agents["日本語"], {"src/app.py": "print('wide')\n"})
    assert run_gitwarden("pause", "alpha", cwd=repo.main).returncode == 0
    proc = run_gitwarden("status", cwd=repo.main, env={"FORCE_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[31mpaused\x1b[0m" in proc.stdout
    table_text = proc.stdout.split("\n\n")[1]
    assert_aligned(table_text)


def test_conflicts_table_lines_up_with_colour_forced_on(tmp_path: Path) -> None:
    repo = make_repo_with_agents(tmp_path, names=("alpha", "beta"))
    write(repo.agents["alpha"], {"説明.md": "alpha\n", "src/app.py": "print('a')\n"})
    write(repo.agents["beta"], {"説明.md": "beta\n", "src/app.py": "print('hi')\n\nb\n"})
    proc = run_gitwarden("conflicts", cwd=repo.main, env={"FORCE_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[31mconflict\x1b[0m" in proc.stdout
    assert_aligned(proc.stdout.split("\n\n")[0])
