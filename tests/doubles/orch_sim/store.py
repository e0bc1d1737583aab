"""The orch simulator's state: resources, containers, holders and history.

Everything lives in one SQLite file (WAL), so a restarted simulator, or
a second one on the same file, sees the same holders.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    uuid TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT, content BLOB NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
    ip TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    running INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS container_scale (
    ip TEXT PRIMARY KEY, service TEXT, scale_index INTEGER);
CREATE TABLE IF NOT EXISTS checkouts (
    uuid TEXT NOT NULL, container_id TEXT NOT NULL, container_ip TEXT NOT NULL,
    checked_out_at TEXT NOT NULL, since REAL NOT NULL,
    PRIMARY KEY (uuid, container_id));
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, action TEXT NOT NULL,
    uuid TEXT NOT NULL, container TEXT NOT NULL, ip TEXT NOT NULL);
"""


class Store:
    """Resources, containers, holders and history in one SQLite file."""

    def __init__(self, path: str) -> None:
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout=5000")
        self.journal_mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one write transaction."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, args: Iterable[Any] = ()) -> List[Dict[str, Any]]:
        with self.lock:
            return [dict(row) for row in self.db.execute(sql, tuple(args))]

    def one(self, sql: str, args: Iterable[Any] = ()) -> Optional[Dict[str, Any]]:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def put_resource(self, uuid: str, rtype: str, name: str, description: Optional[str],
                     content: bytes) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO resources (uuid, type, name, description, content, created) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(uuid) DO UPDATE SET "
                "type=excluded.type, name=excluded.name, description=excluded.description, "
                "content=excluded.content",
                (uuid, rtype, name, description, content, time.time()))

    def resource(self, uuid: str) -> Optional[Dict[str, Any]]:
        return self.one("SELECT * FROM resources WHERE uuid = ?", (uuid,))

    def container(self, ip: str) -> Optional[Dict[str, Any]]:
        return self.one("SELECT k.*, s.service, s.scale_index FROM containers k "
                        "LEFT JOIN container_scale s ON s.ip = k.ip WHERE k.ip = ?", (ip,))

    def put_scale(self, ip: str, service: Optional[str], scale_index: Optional[int]) -> None:
        """Record the compose service and scale index of the container at ``ip``."""
        with self.transaction() as db:
            db.execute("INSERT INTO container_scale (ip, service, scale_index) VALUES (?, ?, ?) "
                       "ON CONFLICT(ip) DO UPDATE SET service=excluded.service, "
                       "scale_index=excluded.scale_index", (ip, service, scale_index))

    def put_container(self, ip: str, name: Optional[str], running: bool) -> Dict[str, Any]:
        cid = hashlib.sha256(("orch-sim container " + ip).encode()).hexdigest()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO containers (ip, id, name, running) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(ip) DO UPDATE SET running=excluded.running, "
                "name=COALESCE(?, containers.name)",
                (ip, cid, name or "ctr-%s" % ip, int(running), name))
        return self.container(ip) or {}

    def holder(self, uuid: str) -> Optional[Dict[str, Any]]:
        return self.one(
            "SELECT c.uuid, c.container_id, c.container_ip, c.checked_out_at, c.since, "
            "k.name AS container, COALESCE(k.running, 0) AS running FROM checkouts c "
            "LEFT JOIN containers k ON k.id = c.container_id WHERE c.uuid = ?", (uuid,))

    def holdings(self) -> List[Dict[str, Any]]:
        return self.query(
            "SELECT c.uuid, c.container_id, c.container_ip, c.checked_out_at, c.since, "
            "k.name AS container, COALESCE(k.running, 0) AS running FROM checkouts c "
            "LEFT JOIN containers k ON k.id = c.container_id ORDER BY c.since")

    def held_by(self, uuid: str, container_id: str) -> bool:
        """Whether ``container_id`` holds ``uuid``."""
        return self.one("SELECT 1 AS held FROM checkouts WHERE uuid = ? AND container_id = ?",
                        (uuid, container_id)) is not None

    def take(self, uuid: str, who: Dict[str, Any], per_container: bool = False) -> bool:
        """Record a checkout; ``False`` if someone holds ``uuid`` already.

        ``per_container``: each container holds its own instance (scaled
        worker keytabs), so only the caller's own hold stands in the way.
        """
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
        sql, args = "SELECT 1 FROM checkouts WHERE uuid = ?", (uuid,)
        if per_container:
            sql, args = sql + " AND container_id = ?", (uuid, who["id"])
        with self.transaction() as db:
            if db.execute(sql, args).fetchone():
                return False
            db.execute("INSERT INTO checkouts VALUES (?, ?, ?, ?, ?)",
                       (uuid, who["id"], who["ip"], stamp, now))
            db.execute("INSERT INTO history (time, action, uuid, container, ip) "
                       "VALUES (?, 'checkout', ?, ?, ?)", (now, uuid, who["name"], who["ip"]))
        return True

    def note(self, action: str, uuid: str, container: str, ip: str) -> None:
        """Record an attempt that changed nothing (a refused release)."""
        with self.transaction() as db:
            db.execute("INSERT INTO history (time, action, uuid, container, ip) "
                       "VALUES (?, ?, ?, ?, ?)", (time.time(), action, uuid, container, ip))

    def drop(self, uuid: str, container_id: str, action: str) -> bool:
        """Remove ``container_id``'s hold on ``uuid``, recording ``action``."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT c.container_ip, COALESCE(k.name, c.container_id) FROM checkouts c "
                "LEFT JOIN containers k ON k.id = c.container_id "
                "WHERE c.uuid = ? AND c.container_id = ?", (uuid, container_id)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM checkouts WHERE uuid = ? AND container_id = ?",
                       (uuid, container_id))
            db.execute("INSERT INTO history (time, action, uuid, container, ip) "
                       "VALUES (?, ?, ?, ?, ?)", (time.time(), action, uuid, row[1], row[0]))
        return True
