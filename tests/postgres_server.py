"""A throw-away PostgreSQL server for tests (Debian's ``postgresql`` package binaries, no system cluster).

:func:`postgres_server` runs ``initdb`` (trust auth) in a temporary folder, starts ``postgres`` with
``pg_ctl -w`` on 127.0.0.1 and a free port (its unix socket in the same folder), creates a database and yields
its SQLAlchemy URL ``postgresql+psycopg2://postgres@127.0.0.1:PORT/DB``; afterwards it stops the server
(``pg_ctl stop -m fast``) and deletes the folder, also when the body raised. PostgreSQL refuses to run as root:
as root, the server programs run as the ``postgres`` system user (``runuser -u postgres --``) and the folder
belongs to that user.

The :func:`postgres_url` fixture (one server per test session) skips its tests when the binaries are absent
(``apt-get install postgresql``), except under CI (``CI=true``), where their absence is a failure.
:func:`create_database` adds further empty databases to that server. Binaries outside
``/usr/lib/postgresql/<version>/bin``: ``FACEDEP_PG_BIN=/path/to/bin`` (or ``pg_ctl`` on the ``PATH``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
PROGRAMS = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "postgres"  # the server's superuser (initdb -U); trust auth, so no password
SYSTEM_USER = "postgres"  # the Unix user that runs the server when the tests run as root (Debian's package)
INSTALL_HINT = "apt-get install postgresql"


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL binaries (or no way to run them) on this machine."""


def _version_key(path: Path) -> tuple:
    """``/usr/lib/postgresql/15`` -> (15,), ``9.6`` -> (9, 6); names that are not versions sort first."""
    parts = re.findall(r"\d+", path.name)
    return tuple(int(p) for p in parts) if parts else (-1,)


def find_bin_dir(root: Path | None = None) -> Path:
    """The ``bin`` folder of the newest PostgreSQL under ``root`` (``/usr/lib/postgresql/<version>/bin``) that has
    initdb, pg_ctl and postgres; else ``$FACEDEP_PG_BIN``, else the folder of ``pg_ctl`` on the ``PATH``."""
    root = PG_ROOT if root is None else root
    candidates = sorted((d for d in root.glob("*") if d.is_dir()), key=_version_key, reverse=True) \
        if root.is_dir() else []
    folders = [d / "bin" for d in candidates]
    if os.environ.get("FACEDEP_PG_BIN"):
        folders.insert(0, Path(os.environ["FACEDEP_PG_BIN"]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        folders.append(Path(on_path).parent)
    for bin_dir in folders:
        if all(os.access(bin_dir / name, os.X_OK) for name in PROGRAMS):
            return bin_dir
    raise PostgresUnavailable(f"no {'/'.join(PROGRAMS)} in {root}/<version>/bin, $FACEDEP_PG_BIN or the PATH")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runs_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _traversable_by_others(folder: Path) -> bool:
    """Every folder from ``/`` down to ``folder`` can be entered by any user (o+x)."""
    for part in [folder, *folder.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _temp_parent(as_other_user: bool) -> Path:
    """Where the server folder goes: the temp dir, or ``/tmp`` when the server user cannot reach the temp dir."""
    default = Path(tempfile.gettempdir()).resolve()
    if not as_other_user or _traversable_by_others(default):
        return default
    if _traversable_by_others(Path("/tmp")):
        return Path("/tmp")
    raise PostgresUnavailable(f"neither {default} nor /tmp can be entered by the {SYSTEM_USER!r} user")


def _command_prefix() -> list[str]:
    """Nothing, or ``runuser -u postgres --`` when running as root (PostgreSQL refuses root)."""
    if not _runs_as_root():
        return []
    try:
        import pwd

        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(f"running as root and there is no {SYSTEM_USER!r} user to run the server as") \
            from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SYSTEM_USER, "--"]
    raise PostgresUnavailable("running as root and `runuser` (util-linux) is missing")


def _run(command: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    env.pop("PGDATA", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@contextmanager
def postgres_server(dbname: str = "facedep_test", bin_dir: Path | None = None, attempts: int = 3) -> Iterator[str]:
    """Start a private PostgreSQL server and yield the SQLAlchemy URL of a fresh database ``dbname`` on it.

    Raises :class:`PostgresUnavailable` when the binaries (or psycopg2) are missing, ``RuntimeError`` with the
    server log when they are there but the server does not start.
    """
    bin_dir = bin_dir or find_bin_dir()
    if importlib.util.find_spec("psycopg2") is None:  # the URL's driver
        raise PostgresUnavailable("psycopg2 is not installed (pip install psycopg2-binary)")
    prefix = _command_prefix()
    folder = Path(tempfile.mkdtemp(prefix="facedep-pg-", dir=_temp_parent(bool(prefix))))
    data, log = folder / "data", folder / "server.log"
    started = False
    try:
        folder.chmod(0o755)
        if prefix:
            shutil.chown(folder, SYSTEM_USER, SYSTEM_USER)
        done = _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                     "--encoding=UTF8", "--no-locale", "--no-sync"], cwd=folder)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        port = 0
        for attempt in range(attempts):  # a "free" port can be taken before the server binds it: retry
            port = free_port()
            settings = (f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{folder}'\n"
                        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n")
            with (data / "postgresql.auto.conf").open("a") as conf:  # owned by the server user; we are root/owner
                conf.write(settings)
            done = _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                         "start"], cwd=folder)
            started = done.returncode == 0
            if started:
                break
            if "could not bind" not in _tail(log) or attempt == attempts - 1:
                raise RuntimeError(f"pg_ctl start failed ({done.returncode}): {done.stderr.strip()}\n"
                                   f"server log {log}:\n{_tail(log)}")
        yield create_database(f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{port}/postgres", dbname)
    finally:
        if started or (data / "postmaster.pid").exists():  # also a server that pg_ctl -w gave up waiting for
            stopped = _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60",
                            "stop"], cwd=folder)
            if stopped.returncode != 0:
                _kill_postmaster(data)
        shutil.rmtree(folder, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """A new, empty database ``name`` on the server of ``url`` (a URL of :func:`postgres_server`); its URL."""
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = psycopg2.connect(host=parsed.host, port=parsed.port, user=parsed.username, dbname="postgres",
                                  connect_timeout=30)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _kill_postmaster(data: Path) -> None:
    """Last resort when ``pg_ctl stop`` failed: SIGQUIT (immediate shutdown) to the pid in ``postmaster.pid``."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGQUIT)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a database on a private PostgreSQL server (one per session); skips without binaries,
    fails under CI (``CI=true``, where ``.ci/run`` installs the package)."""
    server = postgres_server()
    try:
        url = server.__enter__()
    except PostgresUnavailable as exc:
        reason = f"PostgreSQL binaries not found ({INSTALL_HINT}): {exc}"
    else:
        reason = ""
    if reason:
        if in_ci():
            pytest.fail(f"{reason} [CI=true: the PostgreSQL tests must run]", pytrace=False)
        pytest.skip(reason)
    try:
        yield url
    finally:
        server.__exit__(None, None, None)
