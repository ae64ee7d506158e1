"""Many processes competing for one lock: exactly one holder at any time, no deadlock."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from gitwarden.coordination.locks import list_locks
from gitwarden.store.db import Store

PROCESSES = 8
ROUNDS = int(os.environ.get("GITWARDEN_RACE_ROUNDS", "200"))

WORKER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from gitwarden.store.db import Store
    from gitwarden.coordination.locks import acquire_waiting, release

    db, log, me, rounds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = Store(db)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    for _ in range(rounds):
        result = acquire_waiting(store, me, ["src/app.py"], wait=120, ttl=300, poll=0.002)
        assert result.granted, result.conflicts
        os.write(fd, f"enter {me}\\n".encode())
        os.write(fd, f"exit {me}\\n".encode())
        release(store, me, ["src/app.py"])
    print("ok")
""")


def test_eight_processes_one_holder_at_a_time(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    log = tmp_path / "holders.log"
    log.touch()
    Store(db).close()
    rounds = ROUNDS
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(db), str(log), f"p{i}",
                                 str(rounds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for i in range(PROCESSES)]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert out.strip() == "ok"
    lines = log.read_text().splitlines()
    assert len(lines) == 2 * rounds * PROCESSES
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("enter ") and leave.startswith("exit ")
        assert enter.split()[1] == leave.split()[1], "two holders at once"
    sequence = [line.split()[1] for line in lines[::2]]
    assert set(sequence) == {f"p{i}" for i in range(PROCESSES)}
    handovers = sum(1 for a, b in itertools.pairwise(sequence) if a != b)
    assert handovers >= PROCESSES - 1
    with Store(db) as store:
        assert list_locks(store) == []
