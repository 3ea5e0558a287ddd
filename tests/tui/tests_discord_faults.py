# Discord in the console's fault matrix (docs/RELIABILITY.md, "In the console"): Discord only
# mirrors changing actions (tui/ops.c posts one message per action and edits it as the action
# goes on), so each cell confirms an ArgoCD sync in deploy (5) while Discord answers with one of
# the 12 faults, and checks what a user at 2 a.m. would:
#
# - the sync itself is done: its end is announced on the bottom line and the action log (A) has
#   it ✓ on top;
# - the bottom line says that Discord failed, what happened and what to do, in one warning (the
#   end of the sync and the warning share the line: "sync gateway: Succeeded · discord: ...");
#   Discord is not hammered meanwhile (one request for the action; a 429 waits as asked);
# - the webhook URL and its token never show;
# - the console is live while it happens (? opens the help, Esc closes it);
# - after DELETE /faults the next sync is mirrored again: labsim's GET /discord/messages has a
#   new message, edited to the sync's end (after a 401/403/404 too: the console tries again at
#   the next action).
#
# One console for the 12 cells (opened by the first selected, closed with q by the last: exit 0,
# terminal restored, no sanitizer report), on a lab of its own whose syncs end at the first look
# (--argocd-polls 0), started with --timeout 1. Read into run.py's namespace.

DISCORD_FAULTS = [
    # (name, labsim fault, what the warning must say, what to do)
    ("latency", {"kind": "latency", "ms": 5000}, r"timed out", r"--timeout SECONDS allows more"),
    ("401", {"kind": "status", "code": 401}, r"deleted or is wrong \(401\b",
     r"check the webhook URL in \[discord\]"),
    ("403", {"kind": "status", "code": 403}, r"deleted or is wrong \(403 Missing Access",
     r"check the webhook URL in \[discord\]"),
    ("404", {"kind": "status", "code": 404}, r"deleted or is wrong \(404 Unknown Webhook",
     r"check the webhook URL in \[discord\]"),
    # A short wait, so that the cell sees it end: the message waits, then goes out.
    ("429", {"kind": "status", "code": 429, "retry_after": 2}, r"\b429\b rate limited",
     r"asks to wait 2 s"),
    ("500", {"kind": "status", "code": 500}, r"\b500\b", r"try again later"),
    ("503", {"kind": "status", "code": 503, "retry_after": 60}, r"\b503\b", r"try again later"),
    ("malformed", {"kind": "malformed"}, r"not JSON", r"webhook URL in \[discord\]"),
    ("truncated", {"kind": "truncated"}, r"cut short", r"try again"),
    ("reset", {"kind": "reset"}, r"reset by peer|cut short", r"try again"),
    ("stall", {"kind": "stall", "seconds": 5}, r"timed out", r"--timeout SECONDS allows more"),
    ("big", {"kind": "big", "mb": 50}, r"too large", r"larger than 1 MiB"),
]

_discord = {}  # "lab", "console": shared by the cells


def _discord_selected():
    """The names of the discord_faults_* tests this process runs: run.py's SELECTED (after -k
    and --part: with --part a share may not run the last cell, and the share that closes the
    shared console must be the one that runs its last cell)."""
    return [n for n in SELECTED if n.startswith("discord_faults_")]


def _discord_close(check_exit=True):
    c, lb = _discord.pop("console"), _discord.pop("lab")
    try:
        if check_exit and c.term.child_pid():
            c.keys("q")
            c.terminal_restored(expect_exit=0, timeout=10)
    finally:
        report = c.close()
        lb.close()
    check(not report, "sanitizer report:\n" + report)


def _discord_console():
    if "console" in _discord:
        c = _discord["console"]
        if c.term.child_pid() is None:
            last = c.capture()
            _discord_close(check_exit=False)
            raise Fail("labdeck exited during an earlier Discord fault:\n%s" % last)
        return c, _discord["lab"]
    lb = Lab("--churn", "0", "--argocd-polls", "0")
    c = Console(lb, w=200, h=30, args=("--timeout", "1"))
    _discord["lab"], _discord["console"] = lb, c
    c.first_frame()
    open_deploy(c)
    select_deploy(c, "gateway")
    return c, lb


def _discord_messages(lb):
    return lb._admin("GET", "/discord/messages")["messages"]


def _sync_gateway(c):
    c.keys("S")
    c.wait_for(lambda s: "sync gateway? y confirms" in s.line(c.h - 1), "S asking to sync gateway")
    c.keys("y")


def _discord_cell(name, fault, says, todo):
    c, lb = _discord_console()
    secret = lb.state["discord"]["webhook_token"]
    done = False
    try:
        before = len(_discord_messages(lb))
        asked0 = len(lb.requests("discord"))
        lb.fault("discord", **fault)
        try:
            _sync_gateway(c)
            # Live while Discord fails (a stall or a latency lasts past the sync's end).
            c.keys("?")
            c.wait_for(lambda s: "Everywhere" in s.text, "the help opening while Discord fails", 5)
            c.keys("Escape")
            s = c.wait_for(lambda s: "Everywhere" not in s.text
                           and "sync gateway: Succeeded · discord: " in s.line(c.h - 1),
                           "the sync's end with Discord's failure (%s) on the bottom line" % name,
                           15)
            line = s.line(c.h - 1)
            warning = line[line.index("discord: "):]
            check(re.search(says, warning), "%s: the warning says %r, not /%s/" % (name, warning, says))
            check(re.search(todo, warning), "%s: no word of what to do (/%s/) in %r"
                  % (name, todo, warning))
            check(secret not in s.text and "api/webhooks" not in s.text,
                  "%s: the webhook URL or its token on screen:\n%s" % (name, s))
            # The sync is done whatever Discord did: ✓ on top of the action log.
            c.keys("A")
            s = c.wait_for(lambda s: re.search(r"actions \d+ \(0 running\)", s.line(0))
                           and any(re.match(r"\d+s ago ", l) for l in s.lines),
                           "the action log with the sync ended")
            top = next(l for l in s.lines if re.match(r"\d+s ago ", l))
            check("✓" in top and "sync" in top and "gateway" in top,
                  "%s: the newest action is not a sync of gateway done: %r" % (name, top))
            check(secret not in s.text, "%s: the token in the action log" % name)
            c.keys("Escape")
            c.wait_for(lambda s: "[5 deploy]" in s.line(0), "Esc back to deploy")
            # Discord was asked, and not hammered: one request for the action's message (a
            # failed post is not sent again, its edits are dropped), a 429 waited out as asked.
            asked = lb.requests("discord")[asked0:]
            check(asked, "%s: Discord was never asked" % name)
            if name == "reset":
                # curl sends a request once more on a fresh connection when the reused one is
                # found dead before anything came back: at most two.
                check(len(asked) <= 2, "%s: %d requests to Discord for one action"
                      % (name, len(asked)))
            elif name != "429":
                check(len(asked) == 1, "%s: %d requests to Discord for one action: %r"
                      % (name, len(asked), [(r["method"], r["path"][-20:]) for r in asked]))
            else:
                check(len(asked) <= 4, "%s: Discord asked %d times during a 2 s wait"
                      % (name, len(asked)))
        finally:
            lb.clear()
        # The next sync is mirrored again: a new message, edited to the sync's end.
        _sync_gateway(c)
        c.wait_for(lambda s: s.line(c.h - 1).strip() == "sync gateway: Succeeded",
                   "the next sync's end, without a Discord warning", 15)

        def mirrored():
            msgs = _discord_messages(lb)[before:]
            return [m for m in msgs if "gateway" in m["content"] and "Succeeded" in m["content"]
                    and "✅" in m["content"]]
        got = c.term.wait_value(mirrored, "the next sync mirrored to Discord after the fault "
                                "(%s)" % name, 10)
        # After a 429 the waiting message goes out too: the sync's before and the next one's.
        want = 2 if name == "429" else 1
        got = c.term.wait_value(lambda: len(mirrored()) >= want and mirrored(),
                                "%d sync(s) mirrored after the fault (%s)" % (want, name), 10)
        done = True
    finally:
        if not done:
            report = _discord["console"].close()
            if report:
                print("# sanitizer report:\n" + report)
            _discord.pop("console")
            _discord.pop("lab").close()
    names = _discord_selected()
    me = "discord_faults_" + name
    if me in names and names.index(me) == len(names) - 1:
        _discord_close()


def _discord_test(name, fault, says, todo):
    def t():
        _discord_cell(name, fault, says, todo)
    t.__name__ = "discord_faults_" + name
    return test(t)


for _n, _f, _s, _t in DISCORD_FAULTS:
    _discord_test(_n, _f, _s, _t)
