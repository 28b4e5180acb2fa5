"""A local three-node MariaDB Galera cluster on loopback, for the tests and for an operator trying
Houston on Galera (README, "Running on a Galera cluster").

    python -m tests.galera start [--dir DIR] [--port-base 30000]   # prints one URL per node
    python -m tests.galera status | urls | stop [--keep]

Each node is an extra `mariadbd` with its own data directory under DIR (default
`$TMPDIR/houston-galera-<port-base>`), its own config file and four ports:
SQL `base+i`, gcomm `base+10+i`, IST `base+20+i`, SST `base+30+i` (i = 1, 2, 3), all on 127.0.0.1.
Node 1 bootstraps the cluster (`--wsrep-new-cluster`); nodes 2 and 3 join it by rsync SST, one
after the other (a donor serves one joiner at a time).

rsync SST: when this runs as root, the nodes run as the `mysql` user (`--user=mysql`) and DIR
belongs to it. Run as root, the SST script's rsync daemon drops to `nobody`, which cannot write a
joiner's data directory, and the join fails. Run as any other user, everything stays that user.

Settings that matter for Galera (and that Houston's README repeats): `binlog_format=ROW`,
`innodb_autoinc_lock_mode=2`, InnoDB only, every table with a primary key. The failure-detection
timeouts stay at Galera's defaults (suspect 5 s), so a killed node pauses commits on the others
for about as long as it would in production.

Stdlib only (the SQL checks go through the `mariadb` command-line client), so it runs before
any virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
MARIADBD = "/usr/sbin/mariadbd"
DATABASE = "houston"
NODES = (1, 2, 3)


@dataclass(frozen=True)
class Node:
    index: int
    base: int
    root: Path

    @property
    def sql_port(self) -> int:
        return self.base + self.index

    @property
    def gcomm_port(self) -> int:
        return self.base + 10 + self.index

    @property
    def ist_port(self) -> int:
        return self.base + 20 + self.index

    @property
    def sst_port(self) -> int:
        return self.base + 30 + self.index

    @property
    def home(self) -> Path:
        return self.root / f"node{self.index}"

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def config(self) -> Path:
        return self.home / "my.cnf"

    @property
    def pid_file(self) -> Path:
        return self.home / "mariadbd.pid"

    @property
    def socket(self) -> Path:
        return self.home / "mariadbd.sock"

    @property
    def log(self) -> Path:
        return self.home / "error.log"

    def url(self, database: str = DATABASE) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.sql_port}/{database}"


class ClusterError(RuntimeError):
    pass


class Cluster:
    def __init__(self, root: Path | None = None, port_base: int = 30000) -> None:
        self.port_base = port_base
        self.root = root or Path(tempfile.gettempdir()) / f"houston-galera-{port_base}"
        self.nodes = {i: Node(i, port_base, self.root) for i in NODES}
        self.run_as = "mysql" if os.geteuid() == 0 else None
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    # --- whole cluster ------------------------------------------------------------------------
    def start(self, timeout: float = 180) -> list[str]:
        """Fresh data directories, node 1 bootstrapped, nodes 2 and 3 joined; the URLs (database
        `houston` created, utf8mb4)."""
        self.stop(keep=False)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        deadline = time.monotonic() + timeout
        first = self.nodes[1]
        self._prepare(first, install=True)
        for joiner in NODES[1:]:
            self._prepare(self.nodes[joiner], install=False)
        self._own()
        self.start_node(1, bootstrap=True)
        self.wait_synced(1, deadline - time.monotonic())
        self.sql(
            1,
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
            f"CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;",
            via_socket=True,
        )
        for joiner in NODES[1:]:
            self.start_node(joiner)
            self.wait_synced(joiner, deadline - time.monotonic())
        (self.root / "cluster.json").write_text(json.dumps({"port_base": self.port_base, "urls": self.urls()}))
        return self.urls()

    def stop(self, keep: bool = False) -> None:
        for i in NODES:
            self.stop_node(i)
        if not keep and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def urls(self, database: str = DATABASE) -> list[str]:
        return [self.nodes[i].url(database) for i in NODES]

    # --- one node -----------------------------------------------------------------------------
    def start_node(self, index: int, *, bootstrap: bool = False) -> None:
        node = self.nodes[index]
        args = [MARIADBD, f"--defaults-file={node.config}"]
        if bootstrap:
            args.append("--wsrep-new-cluster")
        if self.run_as:
            args.append(f"--user={self.run_as}")
        with open(node.home / "stdout.log", "ab") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._processes[index] = process
        (node.home / "launched.pid").write_text(str(process.pid))  # mariadbd's own pid file comes after SST

    def pid(self, index: int) -> int | None:
        try:
            pid = int((self.nodes[index].home / "launched.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        process = self._processes.get(index)
        if process is not None and process.pid == pid:
            return pid if process.poll() is None else None  # our child: a zombie is gone, not alive
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def kill_node(self, index: int, sig: int = signal.SIGKILL) -> None:
        pid = self.pid(index)
        if pid is None:
            raise ClusterError(f"node {index} is not running")
        os.kill(pid, sig)
        if sig == signal.SIGKILL:
            self._wait_gone(pid, 10)

    def stop_node(self, index: int, timeout: float = 30) -> None:
        pid = self.pid(index)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)

    def status(self, index: int) -> dict[str, str]:
        """wsrep_ready, wsrep_local_state_comment, wsrep_cluster_size... ({} when it does not answer)."""
        out = self.sql(
            index,
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', "
            "'wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_cluster_status', "
            "'wsrep_connected')",
            check=False,
        )
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def wait_synced(self, index: int, timeout: float, size: int | None = None) -> None:
        deadline = time.monotonic() + max(timeout, 1)
        while time.monotonic() < deadline:
            state = self.status(index)
            if (
                state.get("wsrep_ready") == "ON"
                and state.get("wsrep_local_state_comment") == "Synced"
                and (size is None or state.get("wsrep_cluster_size") == str(size))
            ):
                return
            if self.pid(index) is None:
                raise ClusterError(f"node {index} exited; its log ends:\n{self._tail(index)}")
            time.sleep(0.5)
        raise ClusterError(f"node {index} not Synced within {timeout:.0f}s; its log ends:\n{self._tail(index)}")

    def sql(self, index: int, statements: str, *, via_socket: bool = False, check: bool = True) -> str:
        node = self.nodes[index]
        where = [f"--socket={node.socket}"] if via_socket else ["--protocol=tcp", "-h127.0.0.1", f"-P{node.sql_port}"]
        result = subprocess.run(
            [
                "mariadb",
                "--no-defaults",
                *where,
                "-uroot",
                "--batch",
                "--skip-column-names",
                "--connect-timeout=2",
                "-e",
                statements,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"node {index}: {result.stderr.strip()}")
        return result.stdout

    # --- internals ----------------------------------------------------------------------------
    def _prepare(self, node: Node, *, install: bool) -> None:
        node.datadir.mkdir(parents=True, exist_ok=True)
        node.config.write_text(self._config(node))
        if install:
            result = subprocess.run(
                [
                    "mariadb-install-db",
                    f"--defaults-file={node.config}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    *([f"--user={self.run_as}"] if self.run_as else []),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if result.returncode != 0:
                raise ClusterError(f"mariadb-install-db failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")

    def _own(self) -> None:
        if not self.run_as:
            return
        import pwd

        entry = pwd.getpwnam(self.run_as)
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _config(self, node: Node) -> str:
        members = ",".join(f"127.0.0.1:{self.nodes[i].gcomm_port}" for i in NODES)
        options = "; ".join(
            [
                f"gmcast.listen_addr=tcp://127.0.0.1:{node.gcomm_port}",
                f"ist.recv_addr=127.0.0.1:{node.ist_port}",
                "gcache.size=64M",
            ]
        )
        return f"""[mysqld]
datadir={node.datadir}
socket={node.socket}
pid-file={node.pid_file}
log-error={node.log}
port={node.sql_port}
bind-address=127.0.0.1
skip-name-resolve
skip-log-bin
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
default_storage_engine=InnoDB
innodb_buffer_pool_size=64M
innodb_log_file_size=32M
innodb_flush_log_at_trx_commit=2
innodb_autoinc_lock_mode=2
binlog_format=ROW
max_connections=300
wsrep_on=ON
wsrep_provider={PROVIDER}
wsrep_cluster_name=houston_galera_{self.port_base}
wsrep_cluster_address=gcomm://{members}
wsrep_node_name=node{node.index}
wsrep_node_address=127.0.0.1:{node.gcomm_port}
wsrep_node_incoming_address=127.0.0.1:{node.sql_port}
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:{node.sst_port}
wsrep_provider_options="{options}"
wsrep_slave_threads=2
"""

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for _index, process in self._processes.items():
            if process.pid == pid:
                try:
                    process.wait(timeout)
                    return True
                except subprocess.TimeoutExpired:
                    return False
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return True
            time.sleep(0.1)
        return False

    def _tail(self, index: int, lines: int = 30) -> str:
        try:
            return "\n".join(self.nodes[index].log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.galera", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "urls"])
    parser.add_argument("--dir", type=Path, default=None, help="where the nodes live (default: a temp folder)")
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("GALERA_PORT_BASE", "30000")))
    parser.add_argument("--keep", action="store_true", help="stop: keep the data directories")
    args = parser.parse_args(argv)
    cluster = Cluster(args.dir, args.port_base)
    if args.command == "start":
        started = time.monotonic()
        try:
            urls = cluster.start()
        except (ClusterError, subprocess.SubprocessError, OSError) as error:
            print(f"galera: cannot start the cluster: {error}", file=sys.stderr)
            cluster.stop(keep=True)
            return 1
        print(f"galera: 3 nodes Synced in {time.monotonic() - started:.1f}s under {cluster.root}", file=sys.stderr)
        print(",".join(urls))
    elif args.command == "stop":
        cluster.stop(keep=args.keep)
    elif args.command == "urls":
        print(",".join(cluster.urls()))
    else:
        for i in NODES:
            print(f"node {i} (pid {cluster.pid(i)}): {cluster.status(i) or 'not answering'}")
    return 0
