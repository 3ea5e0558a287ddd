"""Real services for the integration tests, each started on a free loopback port the first time a
test asks for it and stopped when the run ends: Redis (redis-server) and PostgreSQL with pgvector
(PGlite served over the Postgres wire protocol, from tests/pglite/node_modules)."""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
_running = {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited at start (status %s)" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on 127.0.0.1:%d in %d s" % (what, port, timeout))


class Service:
    def __init__(self, name, argv, port, cwd=None):
        self.name, self.argv, self.port, self.cwd = name, argv, port, cwd
        self.dir = tempfile.mkdtemp(prefix="labdeck-%s-" % name)
        self.proc = None
        self.start()

    def start(self):
        log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log, cwd=self.cwd or self.dir,
                                     start_new_session=True)
        _wait_port(self.port, self.proc, self.name)

    def stop(self):
        """Kills the service (tests use this to take it away mid-session)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def redis():
    """A throwaway redis-server; .port, .url."""
    if "redis" not in _running:
        port = free_port()
        s = Service("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], port)
        s.url = "redis://127.0.0.1:%d/0" % port
        _running["redis"] = s
    return _running["redis"]


def postgres():
    """PGlite (PostgreSQL 18 + pgvector) over the wire protocol; .port, .conninfo. Raises when
    the npm packages are not installed (scripts/deps installs them)."""
    if "postgres" not in _running:
        pg = os.path.join(ROOT, "tests", "pglite")
        server = os.path.join(pg, "node_modules", "@electric-sql", "pglite-socket", "dist",
                              "scripts", "server.js")
        if not os.path.exists(server):
            raise RuntimeError("PGlite is not installed: run scripts/deps (npm ci in tests/pglite)")
        port = free_port()
        s = Service("postgres", ["node", server, "-p", str(port), "-h", "127.0.0.1",
                                 "-e", "@electric-sql/pglite-pgvector:vector", "-m", "4"],
                    port, cwd=pg)
        s.conninfo = ("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable"
                      % port)
        _running["postgres"] = s
    return _running["postgres"]


@atexit.register
def _stop_all():
    for s in _running.values():
        s.close()
    _running.clear()
