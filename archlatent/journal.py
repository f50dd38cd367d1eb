"""An append-only SQLite journal of evaluations: a crashed or killed search resumes from it.

Each evaluation is committed before the search moves on, so nothing that was paid for is lost and
a resumed run never pays for the same architecture twice. Each row carries a checksum (HMAC-SHA256
of the row, keyed with the run's identity), so a row edited by hand (a better ``valid_acc``, say)
is refused by name instead of becoming the reported best; a journal whose tables were renamed or
dropped is refused instead of silently starting over and paying for every evaluation again.

Journals written by archlatent 0.6.0 have no checksums: they are accepted once, as they are, with a
warning, and signed then (every later open checks them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

from archlatent.errors import DataError

log = logging.getLogger(__name__)

#: meta 'format' of journals with row checksums (0.6.0's journals have no format row and no checksums).
FORMAT = "2"
_TABLES = {"meta", "evals"}
_CREATE = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ("CREATE TABLE evals (seq INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, arch TEXT NOT NULL, "
     "metrics TEXT NOT NULL, checksum TEXT)"),
)


def row_checksum(identity: str, seq: int, key: str, arch: str, metrics: str) -> str:
    """HMAC-SHA256 of one journal row as stored, keyed with the run's canonical identity text."""
    body = json.dumps([seq, key, arch, metrics], ensure_ascii=True).encode("ascii")
    return hmac.new(identity.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Journal:
    """Evaluations of one search run, in order; `config` pins the run it belongs to (and keys its checksums)."""

    def __init__(self, path: str | Path, config: dict[str, Any]) -> None:
        self.path = Path(path)
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise DataError(f"journal {self.path} is empty (0 bytes: damaged or cut off); "
                            "delete it to start the run over")
        self._identity = json.dumps(config, sort_keys=True)
        try:
            if not self.path.exists():
                self._create()
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as err:
            raise DataError(f"journal {self.path} cannot be opened: {err}") from None
        try:
            self._db.execute("PRAGMA synchronous=FULL")
            if self._db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")
            self._open()
            rows = self._db.execute("SELECT seq, key, arch, metrics, checksum FROM evals ORDER BY seq").fetchall()
            self._records = [self._check(expected, row) for expected, row in enumerate(rows)]
        except (sqlite3.DatabaseError, json.JSONDecodeError) as err:
            self._db.close()
            raise DataError(f"journal {self.path} is corrupt: {err}") from err
        except DataError:
            self._db.close()
            raise

    def _create(self) -> None:
        """Write a new journal beside its path and rename it into place: a kill at any moment leaves no
        journal or a whole one, never an empty file (which is then only ever damage)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            for statement in _CREATE:
                db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            db.execute("INSERT INTO meta VALUES ('config', ?)", (self._identity,))
            db.execute("COMMIT")
        finally:
            db.close()
        os.replace(tmp, self.path)

    def _open(self) -> None:
        """Create the tables of a new journal, or check that an existing one is whole and this run's."""
        tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                  if not name.startswith("sqlite_")}
        if tables != _TABLES:
            raise DataError(f"journal {self.path} is damaged: it holds the tables {sorted(tables)}, not "
                            f"{sorted(_TABLES)} (renamed or dropped by hand); resuming it would pay for every evaluation "
                            "again: restore it, or start over in a new --out")
        meta = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        if "config" not in meta:
            raise DataError(f"journal {self.path} is damaged: it names no run (its meta table lost the config)")
        stored, wanted = json.loads(meta["config"]), json.loads(self._identity)
        if stored != wanted:
            differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k)) \
                if isinstance(stored, dict) else ["config"]
            raise DataError(f"journal {self.path} belongs to another run (its {', '.join(differ)} differ: a changed "
                            "checkpoint or setting); use a new --out")
        columns = [c[1] for c in self._db.execute("PRAGMA table_info(evals)")]
        if "checksum" not in columns and meta.get("format") is None:
            self._sign_legacy()
        elif "checksum" not in columns or meta.get("format") != FORMAT:
            raise DataError(f"journal {self.path} is damaged: format {meta.get('format')!r} with columns {columns} "
                            f"(this library writes format {FORMAT} with row checksums)")

    def _sign_legacy(self) -> None:
        """Accept a 0.6.0 journal's rows as they are, once: sign them and say so."""
        rows = self._db.execute("SELECT seq, key, arch, metrics FROM evals").fetchall()
        self._transaction([
            "ALTER TABLE evals ADD COLUMN checksum TEXT",
            *[("UPDATE evals SET checksum=? WHERE seq=?", row_checksum(self._identity, *row), row[0]) for row in rows],
            ("INSERT INTO meta VALUES ('format', ?)", FORMAT),
        ])
        log.warning("journal %s was written before row checksums (archlatent 0.6.0): its %d rows are accepted as they "
                    "are and signed now", self.path, len(rows))

    def _transaction(self, statements: list[Any]) -> None:
        """Run `statements` (text, or a tuple of text and parameters) as one transaction: all or none."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                sql, *params = (statement,) if isinstance(statement, str) else statement
                self._db.execute(sql, params)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _check(self, expected: int, row: tuple[Any, ...]) -> dict[str, Any]:
        """One stored row as a record; DataError naming it when it is missing, edited or not numbers."""
        seq, key, arch, text, checksum = row
        if seq != expected:
            raise DataError(f"journal {self.path} is corrupt: evaluation {expected} is missing (next is "
                            f"{seq}); it was edited or damaged")
        shown = str(arch)[:100]
        if not isinstance(checksum, str) or not hmac.compare_digest(checksum, row_checksum(self._identity, *row[:4])):
            raise DataError(f"journal {self.path} was edited: evaluation {seq} ({shown}) does not match its checksum; "
                            "restore the journal, or start over in a new --out")
        metrics = json.loads(text)
        if not isinstance(metrics, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in metrics.values()):
            raise DataError(f"journal {self.path} is corrupt: evaluation {seq} ({shown}) holds no metrics of finite numbers")
        return {"seq": seq, "key": key, "arch": arch, "metrics": metrics}

    def records(self) -> list[dict[str, Any]]:
        """Every journaled evaluation, in order."""
        return list(self._records)

    def append(self, key: str, arch: str, metrics: dict[str, float]) -> None:
        """Commit one evaluation (durable when this returns)."""
        seq = len(self._records)
        text = json.dumps(metrics, allow_nan=False)
        self._db.execute("INSERT INTO evals VALUES (?, ?, ?, ?, ?)",
                         (seq, key, arch, text, row_checksum(self._identity, seq, key, arch, text)))
        self._records.append({"seq": seq, "key": key, "arch": arch, "metrics": metrics})

    def close(self) -> None:
        self._db.close()
