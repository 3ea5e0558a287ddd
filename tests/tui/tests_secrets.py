# Secrets, proven in the console (issue 7 item 5): with every secret given a distinctive value
# (labsim's, half of them through the environment, half through 0600 files; see
# tests/integration/test_secrets.py, whose Run and Secrets this reuses), every view is opened, and
# every backend is made to fail with the credential echoed in its reason phrase and error body
# (401, 403, 500), a malformed answer and a reset; each screen, and every file labdeck wrote
# (HOME, XDG_STATE_HOME, TMPDIR, sanitizer logs), must hold no 12-character window of any
# secret. Read into run.py's namespace (Console, check, @test...).

import test_secrets as _ts  # noqa: E402  (tests/integration is on sys.path)


def _secrets_console(r, **kw):
    env = {k: v for k, v in r.env.items() if k not in ("ASAN_OPTIONS", "UBSAN_OPTIONS")}
    return Console(r.lab, env=env, config=r.config, **kw)


def _no_leak(r, s, what):
    leaked = r.s.leaks(s.text)
    check(not leaked, "%s shows %s:\n%s" % (what, ", ".join(leaked), s.text))
    return s


def _shows(c, r, pred, what, timeout=15.0):
    """Waits for pred on the screen, checking every screen seen on the way for a leak."""
    def look(s):
        _no_leak(r, s, what)
        return pred(s)
    return c.wait_for(look, what, timeout)


# view key, what the view shows once it has data, the backends it asks
_SECRET_VIEWS = [
    ("1", lambda s: "k8s-node-a" in s.text and "pve-a" in s.text, ["proxmox", "kubernetes"]),
    ("2", lambda s: "[2 guests]" in s.line(0) and "k8s-node-b" in s.text, ["proxmox"]),
    ("3", lambda s: "[3 pods]" in s.line(0) and "CrashLoopBackOff" in s.text, ["kubernetes"]),
    ("5", lambda s: "[5 deploy]" in s.line(0) and "gateway" in s.text
     and "deploy-models.yml" in s.text, ["argocd", "github"]),
    ("6", lambda s: "[6 jobs]" in s.line(0) and "rag_ingest_daily" in s.text
     and "rag-reindex" in s.text, ["airflow", "kubernetes"]),
    ("8", lambda s: "[8 topology]" in s.line(0) and "k8s-node-b" in s.text,
     ["proxmox", "kubernetes", "ollama"]),
]


@test
def secrets_console_views_and_failures():
    r = _ts.Run()
    try:
        lb = r.lab
        with _secrets_console(r, w=120, h=40) as c:
            c.first_frame()
            for key, ready, _ in _SECRET_VIEWS:
                c.keys(key)
                _shows(c, r, ready, "view %s with data" % key)
            # Each backend failing with its credential echoed back: the view that uses it,
            # refreshed, shows the failure (its status code) and never the credential.
            for key, ready, backends in _SECRET_VIEWS:
                for backend in backends:
                    for code in (401, 500):
                        lb.clear()
                        _ts.echo_fault(r, backend, code, r.echo[backend])
                        c.keys(key)
                        c.keys("r")
                        _shows(c, r, lambda s: str(code) in s.text or "***" in s.text,
                               "view %s with %s failing %d" % (key, backend, code))
                    lb.clear()
                    lb.fault(backend, "malformed")
                    c.keys("r")
                    _shows(c, r, lambda s: "malformed" in s.text or "JSON" in s.text
                           or "not JSON" in s.text,
                           "view %s with %s malformed" % (key, backend))
            lb.clear()
            # Chat, with each provider failing and echoing its key.
            c.keys("4")
            _shows(c, r, lambda s: "[4 chat]" in s.line(0), "the chat view")
            for i, (prov, model) in enumerate((("ollama", "qwen2.5"), ("gemini", "gemini-2.5"),
                                                ("openai", "local"))):
                if i:  # p: the next provider
                    c.keys("Escape")
                    _shows(c, r, lambda s: "Enter types" in s.text, "Esc leaving the input")
                    c.keys("p")
                    _shows(c, r, lambda s: model in s.line(0), "p switching to %s" % prov)
                    c.keys("Enter")
                s = _shows(c, r, lambda s: model in s.line(0), "the chat with %s" % prov)
                lb.clear()
                _ts.echo_fault(r, prov, 401, r.echo[prov])
                seen = s.text.count("401")
                c.type("hello %s" % prov)
                c.keys("Enter")
                _shows(c, r, lambda s: s.text.count("401") > seen,
                       "chat with %s failing 401" % prov, 20)
            lb.clear()
            # A guest action, Discord echoing its webhook URL: the warning shows no token.
            _ts.echo_fault(r, "discord", 500, r.echo["discord"])
            if "Esc leaves the input" in c.capture().text:
                c.keys("Escape")
                _shows(c, r, lambda s: "Enter types" in s.text, "Esc leaving the input")
            c.keys("2")
            _shows(c, r, lambda s: "[2 guests]" in s.line(0), "the guests view")
            select_guest(c, 103)
            c.keys("U")
            _shows(c, r, lambda s: "y" in s.line(c.h - 1) and "103" in s.line(c.h - 1),
                   "the question before starting 103")
            c.keys("y")
            _shows(c, r, lambda s: "discord" in s.line(c.h - 1), "the Discord warning", 20)
            c.keys("A")
            _shows(c, r, lambda s: "actions" in s.line(0), "the action log")
            c.keys("?")
            _shows(c, r, lambda s: "quit" in s.text, "the help")
            c.keys("Escape")
            c.keys("7")
            _shows(c, r, lambda s: "[7 hosts]" in s.line(0), "the hosts view")
            c.keys("q")
            c.terminal_restored()
        lb.clear()
        r.check_files()
    finally:
        r.close()
