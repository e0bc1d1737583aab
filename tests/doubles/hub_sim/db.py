"""SQLite storage of the hub simulator: schema, connections, row helpers.

Every process that serves or inspects one simulated hub opens the same
database file.  WAL mode lets readers run beside the single writer, and
each XML-RPC request runs inside one ``BEGIN IMMEDIATE`` transaction, so
requests from several processes are applied one after the other, as the
row locks of the real hub's PostgreSQL would order them.

Times are stored as epoch floats; :func:`ts_text` renders them the way
the real hub sends ``TIMESTAMPTZ`` columns (``isoformat(' ')``).
"""

from __future__ import annotations

import datetime
import sqlite3
import time

BUSY_TIMEOUT_MS = 30000

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL,
    password TEXT,
    status INTEGER NOT NULL DEFAULT 0,
    usertype INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS user_krb_principals (
    user_id INTEGER NOT NULL REFERENCES users(id),
    krb_principal TEXT UNIQUE NOT NULL,
    PRIMARY KEY (user_id, krb_principal)
);
CREATE TABLE IF NOT EXISTS permissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL,
    description TEXT
);
CREATE TABLE IF NOT EXISTS user_perms (
    user_id INTEGER NOT NULL REFERENCES users(id),
    perm_id INTEGER NOT NULL REFERENCES permissions(id),
    PRIMARY KEY (user_id, perm_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    expired INTEGER NOT NULL DEFAULT 0,
    master INTEGER REFERENCES sessions(id),
    key TEXT,
    authtype INTEGER,
    hostip TEXT,
    callnum INTEGER,
    start_time REAL NOT NULL,
    update_time REAL NOT NULL,
    exclusive INTEGER,
    closed INTEGER NOT NULL DEFAULT 0,
    renew_time REAL
);
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL,
    description TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    comment TEXT
);
CREATE TABLE IF NOT EXISTS host (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT UNIQUE NOT NULL,
    update_time REAL,
    task_load REAL NOT NULL DEFAULT 0.0,
    ready INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS host_config (
    host_id INTEGER PRIMARY KEY REFERENCES host(id),
    arches TEXT,
    capacity REAL NOT NULL DEFAULT 2.0,
    description TEXT,
    comment TEXT,
    enabled INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS host_channels (
    host_id INTEGER NOT NULL REFERENCES host(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    PRIMARY KEY (host_id, channel_id)
);
CREATE TABLE IF NOT EXISTS task (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state INTEGER,
    create_time REAL NOT NULL,
    start_time REAL,
    completion_time REAL,
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    host_id INTEGER REFERENCES host(id),
    parent INTEGER REFERENCES task(id),
    label TEXT,
    waiting INTEGER,
    awaited INTEGER,
    owner INTEGER NOT NULL REFERENCES users(id),
    method TEXT,
    request TEXT,
    result TEXT,
    arch TEXT NOT NULL,
    priority INTEGER,
    weight REAL NOT NULL DEFAULT 1.0,
    UNIQUE (parent, label)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tag (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL,
    arches TEXT,
    perm_id INTEGER REFERENCES permissions(id),
    locked INTEGER NOT NULL DEFAULT 0,
    maven_support INTEGER NOT NULL DEFAULT 0,
    maven_include_all INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tag_extra (
    tag_id INTEGER NOT NULL REFERENCES tag(id),
    key TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (tag_id, key)
);
CREATE TABLE IF NOT EXISTS repo (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tag_id INTEGER NOT NULL REFERENCES tag(id),
    state INTEGER NOT NULL,
    create_event INTEGER NOT NULL REFERENCES events(id),
    creation_time REAL NOT NULL,
    state_time REAL NOT NULL,
    dist INTEGER NOT NULL DEFAULT 0,
    task_id INTEGER REFERENCES task(id),
    opts TEXT NOT NULL,
    custom_opts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS buildroot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id INTEGER REFERENCES host(id),
    task_id INTEGER REFERENCES task(id),
    state INTEGER,
    tag_name TEXT,
    repo_id INTEGER,
    container_arch TEXT,
    create_time REAL NOT NULL,
    retire_time REAL,
    create_event INTEGER REFERENCES events(id),
    retire_event INTEGER REFERENCES events(id)
);
CREATE TABLE IF NOT EXISTS rpminfo (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    release TEXT NOT NULL,
    epoch INTEGER,
    arch TEXT NOT NULL,
    payloadhash TEXT,
    size INTEGER,
    buildtime INTEGER,
    location TEXT
);
CREATE TABLE IF NOT EXISTS buildroot_listing (
    buildroot_id INTEGER NOT NULL REFERENCES buildroot(id),
    rpm_id INTEGER NOT NULL REFERENCES rpminfo(id),
    is_update INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (buildroot_id, rpm_id)
);
CREATE TABLE IF NOT EXISTS scheduler_task_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES task(id),
    host_id INTEGER NOT NULL REFERENCES host(id),
    active INTEGER NOT NULL DEFAULT 1,
    create_time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scheduler_host_data (
    host_id INTEGER PRIMARY KEY REFERENCES host(id),
    data TEXT
);
CREATE TABLE IF NOT EXISTS scheduler_sys_data (
    name TEXT PRIMARY KEY,
    data TEXT
);
CREATE TABLE IF NOT EXISTS scheduler_task_refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES task(id),
    host_id INTEGER NOT NULL REFERENCES host(id),
    by_host INTEGER NOT NULL,
    soft INTEGER NOT NULL DEFAULT 0,
    msg TEXT,
    time REAL NOT NULL,
    UNIQUE (task_id, host_id)
);
CREATE TABLE IF NOT EXISTS scheduler_log_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER,
    host_id INTEGER,
    msg_time REAL NOT NULL,
    msg TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS call_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    session_id INTEGER,
    user_name TEXT,
    method TEXT NOT NULL,
    params TEXT NOT NULL,
    multicall INTEGER NOT NULL DEFAULT 0,
    fault_code INTEGER,
    fault_string TEXT
);
"""

# the real hub's schema.sql seeds these rows
DEFAULT_CHANNELS = ('default', 'createrepo', 'maven', 'livecd', 'appliance',
                    'vm', 'image', 'livemedia')
DEFAULT_PERMS = (
    ('admin', 'Full administrator access. Perform all actions.'),
    ('appliance', 'Create appliance builds - deprecated.'),
    ('dist-repo', 'Create a dist-repo.'),
    ('host', 'Add, remove, enable, disable hosts and channels.'),
    ('image', 'Start image tasks.'),
    ('image-import', 'Import image archives.'),
    ('livecd', 'Start livecd tasks.'),
    ('maven-import', 'Import maven archives.'),
    ('repo', 'Manage repos: newRepo, repoExpire, repoDelete, repoProblem.'),
    ('sign', 'Import RPM signatures and write signed RPMs.'),
    ('tag', 'Manage packages in tags: add, block, remove, and clone tags.'),
    ('target', 'Add, edit, and remove targets.'),
)


def connect(path: str) -> sqlite3.Connection:
    """Open the database in autocommit mode with dict-like rows."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000.0,
                           isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute('PRAGMA busy_timeout=%d' % BUSY_TIMEOUT_MS)
    conn.execute('PRAGMA foreign_keys=ON')
    conn.execute('PRAGMA synchronous=NORMAL')
    return conn


def init_db(path: str) -> None:
    """Create the schema and seed rows unless they already exist."""
    conn = connect(path)
    try:
        conn.execute('PRAGMA journal_mode=WAL')
        conn.execute('BEGIN IMMEDIATE')
        for statement in SCHEMA.split(';'):
            if statement.strip():
                conn.execute(statement)

        for name in DEFAULT_CHANNELS:
            conn.execute('INSERT OR IGNORE INTO channels (name) VALUES (?)',
                         (name,))

        for name, desc in DEFAULT_PERMS:
            conn.execute('INSERT OR IGNORE INTO permissions (name, description)'
                         ' VALUES (?, ?)', (name, desc))
        conn.execute('COMMIT')
    finally:
        conn.close()


class Transaction:
    """``with Transaction(conn):`` runs the block in BEGIN IMMEDIATE.

    The block commits when it ends normally and rolls back on error.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute('BEGIN IMMEDIATE')
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.conn.execute('COMMIT')
        else:
            self.conn.execute('ROLLBACK')
        return False


def now() -> float:
    """The current time as the hub's NOW()."""
    return time.time()


def ts_text(ts: float | None) -> str | None:
    """Render an epoch float like a TIMESTAMPTZ the hub sends."""
    if ts is None:
        return None
    value = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return value.isoformat(' ')


def as_bool(value) -> bool | None:
    """SQLite integers back to the booleans PostgreSQL would answer."""
    if value is None:
        return None
    return bool(value)


def row_dict(row: sqlite3.Row | None) -> dict | None:
    """Turn one sqlite3.Row into a plain dict."""
    if row is None:
        return None
    return dict(zip(row.keys(), row))


def fetch_all(conn: sqlite3.Connection, sql: str, values=()) -> list[dict]:
    """Run a query and return its rows as dicts."""
    return [row_dict(r) for r in conn.execute(sql, values).fetchall()]


def fetch_one(conn: sqlite3.Connection, sql: str, values=()) -> dict | None:
    """Run a query and return its first row as a dict, or None."""
    return row_dict(conn.execute(sql, values).fetchone())


def fetch_value(conn: sqlite3.Connection, sql: str, values=()):
    """Run a query and return the first column of its first row."""
    row = conn.execute(sql, values).fetchone()
    if row is None:
        return None
    return row[0]


def in_clause(column: str, values) -> tuple[str, list]:
    """``column IN (?, ?, ...)`` and its parameters."""
    values = list(values)
    if not values:
        return '0', []
    marks = ', '.join('?' for _ in values)
    return '%s IN (%s)' % (column, marks), values
