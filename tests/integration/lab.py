"""Starting labsim for a test run and talking to its admin API (standard library only)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LABSIM = os.path.join(HERE, "..", "labsim", "labsim.py")


class Lab:
    """One labsim process in its own directory; stopped by close()."""

    def __init__(self, *args, timeout=60):
        self.dir = tempfile.mkdtemp(prefix="labdeck-it-")
        self.proc = subprocess.Popen(
            [sys.executable, LABSIM, "--dir", self.dir, *args],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "labsim.err"), "w"))
        state = os.path.join(self.dir, "state.json")
        deadline = time.time() + timeout
        while not os.path.exists(state):
            if self.proc.poll() is not None:
                raise RuntimeError("labsim exited: " + open(os.path.join(self.dir, "labsim.err")).read())
            if time.time() > deadline:
                self.close()
                raise RuntimeError("labsim did not start in %d s" % timeout)
            time.sleep(0.05)
        with open(state) as f:
            self.state = json.load(f)
        self.config = os.path.join(self.dir, "labdeck.ini")
        self.admin = self.state["admin"]["url"]

    def _admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.admin + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def fault(self, backend, kind, path=None, count=None, **params):
        body = {"backend": backend, "kind": kind, **params}
        if path:
            body["path"] = path
        if count is not None:
            body["count"] = count
        return self._admin("POST", "/faults", body)

    def clear(self):
        self._admin("DELETE", "/faults")
        self._admin("DELETE", "/requests")

    def requests(self, backend=None):
        reqs = self._admin("GET", "/requests") or []
        if isinstance(reqs, dict):
            reqs = reqs.get("requests", [])
        return [r for r in reqs if backend is None or r.get("backend") == backend]

    def write_config(self, text, mode=0o600):
        """A config file of our own in the lab's directory; returns its path."""
        path = os.path.join(self.dir, "custom-%d.ini" % int(time.time() * 1e6))
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
