"""A throwaway PostgreSQL cluster (tests, benchmarks), from the machine's own server binaries."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _find(binary: str) -> str | None:
    found = shutil.which(binary)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    pg_ctl: str
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.data_dir), "-m", "immediate", "stop"],
                       capture_output=True, check=False)


def start_postgres(base: Path) -> PostgresServer:
    initdb, pg_ctl = _find("initdb"), _find("pg_ctl")
    if not initdb or not pg_ctl:
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the packaged postgres user
        runuser = shutil.which("runuser")
        if not runuser:
            raise PostgresUnavailable("running as root without runuser to drop to the postgres user")
        as_user = [runuser, "-u", "postgres", "--"]
    base.mkdir(parents=True, exist_ok=True)
    data, sockets = base / "data", base / "sock"
    sockets.mkdir(exist_ok=True)
    if as_user:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        os.chmod(base, 0o700)
    env = {**os.environ, "LC_ALL": "C"}
    _run([*as_user, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"], env, base)
    for attempt in range(3):  # another process may take the free port between the probe and the start
        port = _free_port()
        try:
            _run([*as_user, pg_ctl, "-D", str(data), "-l", str(base / "server.log"), "-w", "-t", "60", "start", "-o",
                  f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                  "-c full_page_writes=off -c max_connections=200"], env, base)
        except PostgresUnavailable:
            if attempt == 2:
                raise
            continue
        return PostgresServer(data, port, pg_ctl, as_user)
    raise PostgresUnavailable("unreachable")


def _run(step: list[str], env: dict[str, str], base: Path) -> None:
    done = subprocess.run(step, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
        name = next(Path(part).name for part in step if part.endswith(("initdb", "pg_ctl")))
        raise PostgresUnavailable(f"{name} failed: {done.stderr.strip()} {log[-800:]}")
