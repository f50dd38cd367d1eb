"""An append-only SQLite journal of evaluations: a crashed or killed search resumes from it.

Each evaluation is committed before the search moves on, so nothing that was paid for is lost and
a resumed run never pays for the same architecture twice.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

from archlatent.errors import DataError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evals (
    seq INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, arch TEXT NOT NULL, metrics TEXT NOT NULL
);
"""


class Journal:
    """Evaluations of one search run, in order; `config` pins the run it belongs to."""

    def __init__(self, path: str | Path, config: dict[str, Any]) -> None:
        self.path = Path(path)
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise DataError(f"journal {self.path} is empty (0 bytes: cut off before its first write); "
                            "delete it to start the run over")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA synchronous=FULL")
            if self._db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE name='config'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('config', ?)", (json.dumps(config, sort_keys=True),))
            elif (stored := json.loads(row[0])) != (wanted := json.loads(json.dumps(config, sort_keys=True))):
                differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
                raise DataError(f"journal {self.path} belongs to another run (its {', '.join(differ)} differ: a changed "
                                "checkpoint or setting); use a new --out")
            self._records = [
                {"seq": seq, "key": key, "arch": arch, "metrics": json.loads(metrics)}
                for seq, key, arch, metrics in self._db.execute("SELECT seq, key, arch, metrics FROM evals ORDER BY seq")
            ]
        except (sqlite3.DatabaseError, json.JSONDecodeError) as err:
            raise DataError(f"journal {self.path} is corrupt: {err}") from err
        for expected, record in enumerate(self._records):
            if record["seq"] != expected:
                raise DataError(f"journal {self.path} is corrupt: evaluation {expected} is missing (next is "
                                f"{record['seq']}); it was edited or damaged")
            m = record["metrics"]
            if not isinstance(m, dict) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in m.values()):
                raise DataError(f"journal {self.path} is corrupt: evaluation {expected} ({record['arch'][:100]}) "
                                "holds no metrics of finite numbers")

    def records(self) -> list[dict[str, Any]]:
        """Every journaled evaluation, in order."""
        return list(self._records)

    def append(self, key: str, arch: str, metrics: dict[str, float]) -> None:
        """Commit one evaluation (durable when this returns)."""
        seq = len(self._records)
        self._db.execute("INSERT INTO evals VALUES (?, ?, ?, ?)", (seq, key, arch, json.dumps(metrics, allow_nan=False)))
        self._records.append({"seq": seq, "key": key, "arch": arch, "metrics": metrics})

    def close(self) -> None:
        self._db.close()
