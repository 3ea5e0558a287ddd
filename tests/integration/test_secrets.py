"""Secrets, proven (issue 7 item 5): with every secret set to a distinctive value, every command
(with and without --json, read-only refusals, usage errors) and every failing path (the backend
answering 401/403/500 with the credential echoed in its reason phrase and body, malformed JSON,
connection resets, a wrong Redis password, PostgreSQL down) runs, and none of the values shows up
in stdout, stderr or any file labdeck writes (HOME, XDG_STATE_HOME, TMPDIR and the working
directory are a fresh tree that is searched afterwards, sanitizer logs included), nor in the
argv or environment labdeck gives the Kubernetes exec plugin it runs.

A TLS pin mismatch (Proxmox fingerprint, ArgoCD fingerprint, a Kubernetes CA that is not the
server's) must send no credential byte: labsim's request record for that backend stays empty,
where the same command with the right pin records requests carrying the token. A changed SSH
host key must send no authentication: sshd at LogLevel DEBUG3 logs no userauth request, where
the right host key shows one.

The secrets are labsim's own (random per run, so distinctive) plus a Redis password, a
PostgreSQL password and an SSH private key made here. A leak is any 12-character window of a
secret (or of its base64 form, as in Basic auth) found in the output."""
import base64
import os
import re
import shutil
import subprocess
import tempfile
import time

import itest
import services
from itest import check, test_alone
from lab import Lab

FAST = {"LABDECK_POLL_INTERVAL": "0.02"}
WINDOW = 12


def fragments(value):
    """The windows of a secret that must not appear anywhere."""
    if len(value) <= WINDOW:
        return {value}
    return {value[i:i + WINDOW] for i in range(len(value) - WINDOW + 1)}


class Secrets:
    """name -> value, and a search for any of them in a text."""

    def __init__(self):
        self.values = {}
        self.frags = {}

    def add(self, name, value):
        check(value and len(value) >= 8, "secret %s is set (%r)" % (name, value))
        self.values[name] = value
        self.frags[name] = fragments(value)

    def leaks(self, text):
        """Names of the secrets a fragment of which occurs in text."""
        if not text:
            return []
        return [n for n, fr in self.frags.items() if any(f in text for f in fr)]


class Run:
    """A lab, a config with every secret given one way or another, and a fresh tree for
    everything labdeck may write."""

    def __init__(self, k8s_auth="token"):
        self.lab = Lab("--churn", "0", "--k8s-auth", k8s_auth)
        st = self.lab.state
        self.top = tempfile.mkdtemp(prefix="labdeck-secrets-")
        self.home = os.path.join(self.top, "home")
        self.work = os.path.join(self.top, "work")
        for d in (self.home, self.work, os.path.join(self.top, "tmp"),
                  os.path.join(self.top, "state")):
            os.makedirs(d)
        self.s = Secrets()
        self.s.add("proxmox token_secret", st["pve_token_secret"])
        self.s.add("kubernetes bearer token", st["k8s_token"])
        self.s.add("kubernetes other-context token", st["k8s_other_token"])
        if k8s_auth == "exec":
            self.s.add("kubernetes exec-plugin token", st["k8s_exec_token"])
        if k8s_auth == "cert":
            key = open(os.path.join(self.lab.dir, "k8s-client-key.pem")).read()
            for i, line in enumerate(l for l in key.splitlines() if "-----" not in l):
                if len(line) >= 40:
                    self.s.add("kubernetes client key line %d" % i, line)
        self.s.add("gemini api_key", st["gemini_api_key"])
        self.s.add("openai api_key", st["openai_api_key"])
        self.s.add("argocd token", st["argocd"]["token"].split(".", 1)[1])  # not the JWT header
        self.s.add("github token", st["github"]["token"])
        af = st["airflow"]
        self.s.add("airflow password", af["password"])
        self.s.add("airflow basic auth", base64.b64encode(
            ("%s:%s" % (af["username"], af["password"])).encode()).decode())
        self.s.add("discord webhook token", st["discord"]["webhook_token"])
        # What a careless server would echo back: the credential as it received it.
        self.echo = {"proxmox": "PVEAPIToken=root@pam!labdeck=" + st["pve_token_secret"],
                     "kubernetes": "Bearer " + st["k8s_token"],
                     "ollama": st["openai_api_key"], "gemini": st["gemini_api_key"],
                     "openai": "Bearer " + st["openai_api_key"],
                     "argocd": "Bearer " + st["argocd"]["token"],
                     "github": "Bearer " + st["github"]["token"],
                     "airflow": "Basic " + self.s.values["airflow basic auth"],
                     "discord": st["discord"]["webhook_url"] + "?wait=true"}
        self.redis_pw = "redis-pw-Q7ZK3xVt9mWq2LpR"
        self.s.add("redis password", self.redis_pw)
        self.pg_pw = "pg-pw-N4bHs8YcJ2vRt6Wd"
        self.s.add("postgres password", self.pg_pw)
        self.env = dict(FAST)
        self.env.update({"HOME": self.home, "XDG_STATE_HOME": os.path.join(self.top, "state"),
                         "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
                         "TMPDIR": os.path.join(self.top, "tmp"), "PGPASSWORD": self.pg_pw})
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            opts = os.environ.get(var, "")
            self.env[var] = (opts + ":" if opts else "") + "log_path=" + os.path.join(
                self.top, "sanitizer")
        # Half of the secrets from the environment, the rest from labsim's 0600 files.
        text = open(self.lab.config).read()
        for section, key, var, value in (
                ("proxmox", "token_secret", "T_PVE_SECRET", st["pve_token_secret"]),
                ("gemini", "api_key", "T_GEMINI_KEY", st["gemini_api_key"]),
                ("github", "token", "T_GITHUB_TOKEN", st["github"]["token"]),
                ("discord", "webhook_url", "T_DISCORD_URL", st["discord"]["webhook_url"])):
            text, n = re.subn(r"(\[%s\]\n(?:[^\[\n][^\n]*\n)*?)%s_file = [^\n]*"
                              % (section, key), r"\g<1>%s_env = %s" % (key, var), text, count=1)
            check(n == 1, "labsim's config has [%s] %s_file" % (section, key))
            self.env[var] = value
        self.base_config = text
        self.config = self.write_config(text)
        self.own = set()  # files the test itself wrote into the tree

    def write_config(self, text, name=None):
        path = os.path.join(self.top, name or "labdeck-%d.ini" % len(os.listdir(self.top)))
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def run(self, *args, config=None, stdin="", timeout=60):
        cmd = [itest.LABDECK, "--config", config or self.config, "--timeout", "5", *args]
        e = dict(os.environ)
        for k in ("KUBECONFIG", "LABDECK_CONFIG", "GEMINI_API_KEY", "OPENAI_API_KEY"):
            e.pop(k, None)
        e["LC_ALL"] = "C.UTF-8"
        e.update(self.env)
        p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout,
                           input=stdin, cwd=self.work)
        what = " ".join(args)
        leaked = self.s.leaks(p.stdout + p.stderr)
        check(not leaked, "labdeck %s printed %s:\nstdout %r\nstderr %r"
              % (what, ", ".join(leaked), p.stdout[:600], p.stderr[:600]))
        check("ERROR: AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr,
              "sanitizer report from labdeck %s: %s" % (what, p.stderr[:2000]))
        return p

    def files(self):
        """Every file under the tree labdeck may write to: (path, bytes)."""
        for d, _, names in os.walk(self.top):
            for n in names:
                p = os.path.join(d, n)
                if p.endswith(".ini") or p in self.own:
                    continue  # our own configs, kubeconfigs and scripts
                with open(p, "rb") as f:
                    yield p, f.read()

    def check_files(self, expect=()):
        seen = []
        for p, data in self.files():
            seen.append(os.path.relpath(p, self.top))
            leaked = self.s.leaks(data.decode("utf-8", "replace"))
            check(not leaked, "%s holds %s" % (p, ", ".join(leaked)))
        for pat in expect:
            check(any(re.search(pat, f) for f in seen),
                  "labdeck wrote a file matching %s (the check looked at %s)" % (pat, seen))
        return seen

    def close(self):
        self.lab.close()
        shutil.rmtree(self.top, ignore_errors=True)


def echo_fault(r, backend, code, value, path=None, count=None):
    """The backend answers `code` and echoes the credential in its reason phrase and body, as
    a careless server (or a proxy) may do."""
    echo = "invalid credential %s (got %s)" % (value, value)
    body = '{"message":"%s","error":{"message":"%s","code":%d},"data":null}' % (echo, echo, code)
    params = {"code": code, "reason": echo, "body": body}
    r.lab.fault(backend, "status", path=path, count=count, **params)


# Commands per backend: what exercises it (the failing paths use these).
BACKEND_CMDS = {
    "proxmox": [("guests", "--json"), ("nodes",)],
    "kubernetes": [("pods", "--json"), ("jobs", "list")],
    "ollama": [("chat", "--provider", "ollama", "--no-cache", "hello")],
    "gemini": [("chat", "--provider", "gemini", "--no-cache", "hello")],
    "openai": [("chat", "--provider", "openai", "--no-cache", "hello")],
    "argocd": [("deploy", "list", "--json"), ("deploy", "sync", "gateway", "--yes")],
    "github": [("deploy", "run", "deploy-gateway.yml", "--yes")],
    "airflow": [("jobs", "list", "--json"), ("jobs", "trigger", "rag_ingest_daily", "--yes")],
    "discord": [("guest", "start", "103", "--yes")],
}


@test_alone
def secrets_every_command_and_failure():
    r = Run()
    try:
        lab = r.lab
        port = services.free_port()
        redis_srv = services.Service("redis-auth", [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--requirepass", r.redis_pw], port)
        try:
            cfg = r.write_config(r.base_config + "\n[redis]\nurl = redis://127.0.0.1:%d/0\n"
                                 "password_env = T_REDIS_PW\n\n[rag]\n" % port)
            r.env["T_REDIS_PW"] = r.redis_pw
            notes = os.path.join(r.work, "notes.md")
            with open(notes, "w") as f:
                f.write("# iGPU\n\nPass the iGPU through with hostpci0 and the i915 driver.\n")
            ok = [
                ("nodes",), ("nodes", "--json"), ("guests",), ("guests", "--json"),
                ("pods",), ("pods", "--json"), ("topology",), ("topology", "--json"),
                ("chat", "--provider", "ollama", "hello there"),
                ("chat", "--provider", "gemini", "--json", "hello there"),
                ("chat", "--provider", "openai", "hello there"),
                ("chat", "--provider", "gemini", "--session", "s1", "remember this"),
                ("chat", "--provider", "ollama", "--session", "s1", "--json", "and this"),
                ("session", "list"), ("session", "list", "--json"),
                ("session", "show", "s1"), ("session", "show", "s1", "--json"),
                ("rag", "ingest", notes), ("rag", "ingest", "--json", notes),
                ("rag", "query", "iGPU passthrough"), ("rag", "query", "--json", "iGPU"),
                ("deploy", "list"), ("deploy", "list", "--json"),
                ("deploy", "sync", "gateway", "--yes", "--wait"),
                ("deploy", "run", "deploy-gateway.yml", "--yes", "--json"),
                ("jobs", "list"), ("jobs", "list", "--json"),
                ("jobs", "trigger", "rag_ingest_daily", "--yes", "--wait"),
                ("jobs", "trigger", "cronjob/rag-reindex", "-n", "batch", "--yes", "--json"),
                ("guest", "start", "103", "--yes", "--wait"),
                ("guest", "stop", "103", "--yes", "--json"),
                ("--readonly", "guest", "stop", "101", "--yes"),
                ("--readonly", "deploy", "sync", "gateway", "--yes", "--json"),
                ("--readonly", "jobs", "trigger", "rag_ingest_daily", "--yes"),
                ("--readonly", "session", "delete", "s1", "--yes"),
                ("session", "rename", "s1", "s2"), ("session", "delete", "s2", "--yes"),
                ("chat", "--provider", "openai", "--session", "kept", "stays on disk"),
                # usage errors
                ("guest", "explode", "101"), ("deploy",), ("jobs", "trigger"), ("chat",),
                ("nodes", "--bogus"), ("--timeout", "x", "nodes"), ("ssh",),
                ("ssh", "nohost", "--", "true"), ("session", "show", "nosuch"),
            ]
            codes = {}
            for args in ok:
                # sessions in files (no [redis]), the rest with the Redis cache
                files = args[0] == "session" or "--session" in args or args[-1] == "s1"
                p = r.run(*args, config=r.config if files else cfg)
                codes[" ".join(args)] = p.returncode
            check(codes["nodes --json"] == 0 and codes["chat --provider gemini --json hello there"]
                  == 0 and codes["deploy list"] == 0 and codes["jobs list"] == 0
                  and codes["rag query iGPU passthrough"] == 0, "the commands worked: %r" % codes)
            check(codes["guest explode 101"] == 2 and codes["--readonly guest stop 101 --yes"] == 2,
                  "usage error and read-only refusal: %r" % codes)
            # Secrets reached their own backends, as headers: prove the values were live.
            reqs = lab.requests()
            auth = {q["backend"]: (q["headers"].get("Authorization", "")
                                   + q["headers"].get("authorization", "")
                                   + q["headers"].get("x-goog-api-key", "")
                                   + q["headers"].get("X-Goog-Api-Key", ""))
                    for q in reqs if q.get("status") and q["status"] < 400}
            for backend, name in (("proxmox", "proxmox token_secret"),
                                  ("kubernetes", "kubernetes bearer token"),
                                  ("gemini", "gemini api_key"), ("openai", "openai api_key"),
                                  ("github", "github token"), ("airflow", "airflow basic auth")):
                check(r.s.values[name] in auth.get(backend, ""),
                      "%s carried %s in its header: %r" % (backend, name, auth.get(backend)))
            for q in reqs:
                for name in r.s.leaks(q["path"]):
                    check(q["backend"] == "discord" and name == "discord webhook token",
                          "%s in the URL of a %s request: %s" % (name, q["backend"], q["path"]))
                for hname, hval in q["headers"].items():
                    for name in r.s.leaks(hval):
                        check(hname.lower() in ("authorization", "x-goog-api-key"),
                              "%s in header %s to %s" % (name, hname, q["backend"]))
            # Every backend failing, echoing the credential back.
            for backend, cmds in BACKEND_CMDS.items():
                for code in (401, 403, 500):
                    lab.clear()
                    echo_fault(r, backend, code, r.echo[backend])
                    for i, args in enumerate(cmds):
                        p = r.run(*args, config=cfg)
                        if i == 0:  # the fault took: the command failed, or warned
                            check(p.returncode != 0 if backend != "discord" else
                                  "discord" in p.stderr and "***" not in p.stderr
                                  or "discord webhook" in p.stderr,
                                  "%s %d: labdeck %s failed: %r" % (backend, code,
                                                                    " ".join(args), p))
                for kind in ("malformed", "reset"):
                    lab.clear()
                    lab.fault(backend, kind)
                    for args in cmds[:1]:
                        r.run(*args, config=cfg)
            lab.clear()
            # Redis with a wrong password; PostgreSQL down with the password in the conninfo.
            bad = r.write_config(r.base_config + "\n[redis]\nurl = redis://127.0.0.1:%d/0\n"
                                 "password_env = T_REDIS_BAD\n\n[rag]\npostgres = host=127.0.0.1 "
                                 "port=%d user=lab dbname=lab password=%s sslmode=disable\n"
                                 % (port, services.free_port(), r.pg_pw))
            r.env["T_REDIS_BAD"] = "wrong-" + r.redis_pw[::-1]
            r.s.add("wrong redis password", r.env["T_REDIS_BAD"])
            p = r.run("chat", "--provider", "ollama", "hello", config=bad)
            p = r.run("rag", "query", "--json", "iGPU", config=bad)
            check(p.returncode != 0, "rag query with PostgreSQL down fails", p)
            r.run("rag", "ingest", notes, config=bad)
            r.run("session", "list", config=bad)
            r.check_files(expect=[r"state/labdeck/rag-index", r"state/labdeck/sessions/."])
        finally:
            redis_srv.close()
    finally:
        r.close()


def tls_case(r, section, extra, backend, args, name):
    """args against a config whose [section] carries `extra` TLS keys: returns (exit, the
    requests labsim recorded for the backend)."""
    text = re.sub(r"(\[%s\]\n)" % section, r"\1" + extra.replace("\\", "\\\\"), r.base_config)
    text = re.sub(r"(\[%s\][^\[]*?)ca_file = [^\n]*\n" % section, r"\1", text)
    cfg = r.write_config(text)
    r.lab.clear()
    p = r.run(*args, config=cfg)
    return p.returncode, r.lab.requests(backend)


@test_alone
def secrets_tls_pin_mismatch_sends_nothing():
    r = Run()
    try:
        st = r.lab.state
        wrong = ":".join(["AB"] * 32)
        # Proxmox: the right pin sends the token, a wrong one sends no request at all.
        code, reqs = tls_case(r, "proxmox", "fingerprint = %s\n" % st["pve_fingerprint"],
                              "proxmox", ("guests", "--json"), "right")
        check(code == 0 and any(r.s.values["proxmox token_secret"] in
                                q["headers"].get("Authorization", "") for q in reqs),
              "with the right pin the token is sent (exit %d, %d requests)" % (code, len(reqs)))
        code, reqs = tls_case(r, "proxmox", "fingerprint = %s\n" % wrong, "proxmox",
                              ("guests", "--json"), "wrong")
        check(code == 3 and reqs == [], "a wrong Proxmox pin: exit 3 and no request "
              "(exit %d, requests %r)" % (code, reqs))
        # ArgoCD: its own certificate's pin, then a wrong one.
        fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                             os.path.join(r.lab.dir, "argocd-cert.pem")], capture_output=True,
                            text=True, check=True).stdout.strip().split("=", 1)[1]
        code, reqs = tls_case(r, "argocd", "fingerprint = %s\n" % fp, "argocd",
                              ("deploy", "list", "--json"), "right")
        check(reqs and any(r.s.values["argocd token"] in q["headers"].get("Authorization", "")
                           for q in reqs), "ArgoCD with the right pin gets the token (%r)" % reqs)
        code, reqs = tls_case(r, "argocd", "fingerprint = %s\n" % wrong, "argocd",
                              ("deploy", "list", "--json"), "wrong")
        check(reqs == [], "a wrong ArgoCD pin sends no request: %r" % reqs)
        # Kubernetes: a kubeconfig whose certificate-authority-data is another CA (Proxmox's
        # self-signed certificate): the token never leaves.
        kc = open(st["kubeconfig"]).read()
        other_ca = base64.b64encode(open(os.path.join(r.lab.dir, "pve-cert.pem"), "rb").read())
        kc2 = re.sub(r"certificate-authority-data: \S+", "certificate-authority-data: "
                     + other_ca.decode(), kc)
        check(kc2 != kc, "the kubeconfig has certificate-authority-data")
        kpath = os.path.join(r.top, "kubeconfig-wrong-ca")
        with open(kpath, "w") as f:
            f.write(kc2)
        os.chmod(kpath, 0o600)
        r.own.add(kpath)
        cfg = r.write_config(r.base_config.replace(st["kubeconfig"], kpath))
        r.lab.clear()
        p = r.run("pods", "--json", config=cfg)
        reqs = r.lab.requests("kubernetes")
        check(p.returncode == 3 and reqs == [], "a CA that is not the server's: exit 3, no "
              "request (exit %d, %r)" % (p.returncode, reqs))
        r.lab.clear()
        p = r.run("pods", "--json")
        check(p.returncode == 0 and r.lab.requests("kubernetes"), "the right CA works", p)
        r.check_files()
    finally:
        r.close()


EXEC_WRAPPER = """#!/bin/sh
# records what labdeck hands the exec plugin, then runs labsim's plugin
{ printf 'ARGV'; for a in "$0" "$@"; do printf ' %s' "$a"; done; echo; env; } >> "$RECORD"
exec "$@"
"""


@test_alone
def secrets_exec_plugin_and_client_key():
    """The exec plugin gets what client-go gives it and no other secret (argv and environment
    recorded by a wrapper); its token and a client certificate's key never show."""
    r = Run("exec")
    try:
        st = r.lab.state
        wrapper = os.path.join(r.top, "wrap.sh")
        record = os.path.join(r.top, "exec-record.txt")
        with open(wrapper, "w") as f:
            f.write(EXEC_WRAPPER)
        os.chmod(wrapper, 0o700)
        r.own.update((wrapper, record))
        kc = open(st["kubeconfig"]).read()
        m = re.search(r"command: (\S+)\n( +)args:\n", kc)
        check(m, "the exec stanza in labsim's kubeconfig:\n%s" % kc)
        ind = m.group(2)
        kc2 = kc.replace(m.group(0), 'command: "%s"\n%sargs:\n%s- %s\n' % (
            wrapper, ind, ind, m.group(1)), 1)
        kc2 = kc2.replace("%senv:\n" % ind, '%senv:\n%s- name: RECORD\n%s  value: "%s"\n'
                          % (ind, ind, ind, record), 1)
        check("RECORD" in kc2, "the exec stanza has env:\n%s" % kc)
        kpath = os.path.join(r.top, "kubeconfig-exec")
        with open(kpath, "w") as f:
            f.write(kc2)
        os.chmod(kpath, 0o600)
        r.own.add(kpath)
        cfg = r.write_config(r.base_config.replace(st["kubeconfig"], kpath))
        p = r.run("pods", "--json", config=cfg)
        check(p.returncode == 0, "pods through the exec plugin", p)
        echo_fault(r, "kubernetes", 401, st["k8s_exec_token"])
        r.run("pods", config=cfg)
        r.run("nodes", "--json", config=cfg)
        r.lab.clear()
        rec = open(record).read() if os.path.exists(record) else ""
        check("ARGV" in rec and "KUBERNETES_EXEC_INFO" in rec, "the plugin ran: %r" % rec[:300])
        # The plugin gets labdeck's own environment (the user's, as kubectl passes it), the
        # kubeconfig's env: entries and KUBERNETES_EXEC_INFO, nothing more: no secret labdeck
        # read from a file, none in argv.
        argv = [l for l in rec.splitlines() if l.startswith("ARGV")][0]
        check(not r.s.leaks(argv), "a secret in the plugin's argv: %s" % argv)
        given = "\n".join("%s=%s" % kv for kv in r.env.items())
        for name, value in r.s.values.items():
            if name.startswith("kubernetes exec") or any(f in given for f in fragments(value)):
                continue  # its own token in its own output; the user's environment
            check(name not in r.s.leaks(rec), "the exec plugin was given %s" % name)
        r.check_files()
    finally:
        r.close()
    r = Run("cert")
    try:
        p = r.run("pods", "--json")
        check(p.returncode == 0, "pods with a client certificate", p)
        r.lab.fault("kubernetes", "status", code=401)
        r.run("pods")
        r.lab.clear()
        r.lab.fault("kubernetes", "reset")
        r.run("nodes")
        r.check_files()
    finally:
        r.close()


@test_alone
def secrets_ssh_host_key_changed_sends_no_auth():
    from sshd import Sshd, keygen
    s = Sshd(log_level="DEBUG3")
    top = tempfile.mkdtemp(prefix="labdeck-secrets-ssh-")
    try:
        key = open(s.client_key).read()
        sec = Secrets()
        for i, line in enumerate(l for l in key.splitlines() if "-----" not in l):
            if len(line) >= 20:
                sec.add("ssh key line %d" % i, line)
        other = os.path.join(top, "other")
        keygen(other)
        known_ok = os.path.join(top, "known_ok")
        with open(known_ok, "w") as f:
            f.write(s.host_line + "\n")
        known_bad = os.path.join(top, "known_bad")
        with open(known_bad, "w") as f:
            f.write("[127.0.0.1]:%d %s\n" % (s.port, " ".join(open(other + ".pub").read().split()[:2])))

        def go(known):
            cfg = os.path.join(top, "c.ini")
            with open(cfg, "w") as f:
                f.write('[ssh "lab"]\nhost = 127.0.0.1\nport = %d\nuser = root\nidentity = %s\n'
                        'known_hosts = %s\n' % (s.port, s.client_key, known))
            mark = s.log_size()
            p = itest.run("ssh", "lab", "--", "echo", "hi", config=cfg, stdin="",
                          env={"HOME": top, "SSH_AUTH_SOCK": ""})
            leaked = sec.leaks(p.out + p.err)
            check(not leaked, "ssh printed %s: %r" % (leaked, p))
            return p, s.wait_log(mark, "Connection closed|Disconnected|disconnect|closed by")

        p, log = go(known_ok)
        check(p.code == 0 and "hi" in p.out, "ssh with the right host key works", p)
        check(re.search(r"userauth-request|userauth_pubkey|Accepted publickey", log),
              "sshd logs the authentication with the right key (the control):\n%s" % log[-3000:])
        p, log = go(known_bad)
        check(p.code != 0 and "hi" not in p.out, "a changed host key is refused", p)
        check("Connection from" in log or "connection from" in log,
              "sshd saw the connection:\n%s" % log[-2000:])
        check(not re.search(r"userauth|Accepted|Failed (publickey|password)|"
                            r"Postponed publickey|input_userauth", log),
              "an authentication attempt after a changed host key:\n%s" % log[-3000:])
    finally:
        s.close()
        shutil.rmtree(top, ignore_errors=True)
