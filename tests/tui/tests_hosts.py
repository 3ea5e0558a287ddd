# The hosts view (7, :hosts) against a real sshd on 127.0.0.1 (tests/integration/sshd.py):
# hosts with address, auth and last result; quick commands run after a confirmation showing the
# exact command line; a typed command (c) streamed into the output pane, Esc stopping it; the
# pane's bounded scrollback (PgUp/PgDn, g/G); escape sequences inert; an unknown host key shown
# by fingerprint and added only on 'y'; a changed key refused in red naming the known_hosts line
# with nothing asked; --readonly refusing. Read into run.py's namespace (Console, lab, @test...).
import sshd as sshd_mod  # noqa: E402


class SshCase:
    """A config of its own: the shared lab's sections, then [ssh "lab"] (the sshd's client key,
    quick commands), [ssh "viaagent"] (no identity: the agent) and a known_hosts of the case's
    own; a marker file a command can create to prove it ran."""

    def __init__(self, known=True):
        self.s = sshd_mod.sshd()
        self.lab = lab()
        self.dir = tempfile.mkdtemp(prefix="labdeck-tui-ssh-")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        with open(self.known_hosts, "w") as f:
            f.write(self.s.host_line + "\n" if known else "")
        self.marker = os.path.join(self.dir, "ran")
        text = open(self.lab.config).read()
        text += ('\n[ssh "lab"]\nhost = 127.0.0.1\nport = %d\nuser = root\nidentity = %s\n'
                 'known_hosts = %s\n'
                 'command.hello = echo hello from $(hostname)\n'
                 'command.fail = echo failing >&2; exit 7\n'
                 'command.touch = touch %s\n'
                 % (self.s.port, self.s.client_key, self.known_hosts, self.marker))
        text += ('\n[ssh "viaagent"]\nhost = 127.0.0.1\nport = %d\nuser = root\n'
                 'known_hosts = %s\n' % (self.s.port, self.known_hosts))
        self.config = self.lab.write_config(text)

    def console(self, **kw):
        return Console(self.lab, config=self.config, **kw)

    def ran(self):
        return os.path.exists(self.marker)

    def known(self):
        return open(self.known_hosts).read()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def open_hosts(c):
    c.keys("7")
    return c.wait_for(lambda s: "[7 hosts]" in s.line(0) and "viaagent" in s.text,
                      "the hosts view listing lab and viaagent")


def open_commands(c):
    open_hosts(c)
    c.keys("Enter")
    return c.wait_for(lambda s: "quick commands 3" in s.line(0) and "hello" in s.text,
                      "Enter on lab listing its quick commands")


def selected_text(s, h):
    """The text of the row drawn in the selection style, or ""."""
    sel = selected_rows(s, h)
    return s.line(sel[0]) if sel else ""


def confirm_line(c, cmd):
    return lambda s: ("run on lab (root@127.0.0.1:%d): %s? y confirms" % (c.port, cmd)
                      in s.line(c.h - 1))


@test
def hosts_list_quick_commands_run():
    k = SshCase()
    try:
        with k.console(w=140, h=30) as c:
            c.port = k.s.port
            s = open_hosts(c)
            row = next(l for l in s.lines if l.startswith("lab "))
            check("root@127.0.0.1:%d" % k.s.port in row and "key id_ed25519" in row
                  and re.search(r"\b3\b", row), "lab's address, key file, 3 commands: %r" % row)
            row = next(l for l in s.lines if l.startswith("viaagent "))
            check("agent" in row and row.rstrip().endswith("-"), "viaagent logs in with the agent,"
                  " never ran: %r" % row)
            c.keys("Enter")
            s = c.wait_for(lambda s: "quick commands 3" in s.line(0), "lab's quick commands")
            check("echo hello from $(hostname)" in s.text and "touch " + k.marker in s.text,
                  "the commands as configured:\n%s" % s)
            select_where(c, lambda l: l.startswith("touch"), "touch")
            c.keys("Enter")
            c.wait_for(confirm_line(c, "touch " + k.marker), "the exact command line asked")
            c.keys("n")
            c.wait_for(lambda s: "nothing done" in s.line(c.h - 1), "n doing nothing")
            time.sleep(0.5)
            check(not k.ran(), "a declined command ran")
            c.keys("g")  # hello is the first command
            c.wait_for(lambda s: selected_text(s, c.h).startswith("hello"), "g selecting hello",
                       escapes=True)
            c.keys("Enter")
            c.wait_for(confirm_line(c, "echo hello from $(hostname)"), "asked before hello")
            c.keys("y")
            s = c.wait_for(lambda s: "✓ exit 0 after" in s.text, "the pane ending with exit 0")
            check(any(l.startswith("hello from ") for l in s.lines), "the output shown:\n%s" % s)
            check("lab (root@127.0.0.1:%d) $ echo hello from $(hostname)" % k.s.port in s.text,
                  "the pane names the host and the command:\n%s" % s)
            c.wait_for(lambda s: "ssh lab: echo hello from $(hostname): exit 0" in s.line(c.h - 1),
                       "the end announced")
            c.keys("Escape")  # back to the commands
            c.wait_for(lambda s: "quick commands 3" in s.line(0), "Esc back to the commands")
            select_where(c, lambda l: l.startswith("fail"), "fail")
            c.keys("Enter")
            c.keys("y")
            s = c.wait_for(lambda s: "✗ exit 7 after" in s.text, "a failing command: exit 7")
            check("failing" in s.text, "its stderr shown:\n%s" % s)
            c.keys("Escape")
            c.keys("Escape")
            s = c.wait_for(lambda s: "[7 hosts]" in s.line(0) and "✗ exit 7 ·" in s.text,
                           "the hosts list showing lab's last result")
            c.keys("o")
            c.wait_for(lambda s: "✗ exit 7 after" in s.text and "failing" in s.text,
                       "o reopening the last output")
            c.keys("A")
            s = c.wait_for(lambda s: "actions 2 (0 running)" in s.line(0),
                           "both runs in the action log")
            check("✗ exit 7" in s.text and "✓ exit 0" in s.text, "how each ended:\n%s" % s)
    finally:
        k.close()


@test
def hosts_typed_command_streams_and_stops():
    k = SshCase()
    try:
        with k.console(w=140, h=30) as c:
            c.port = k.s.port
            open_hosts(c)
            c.keys("c")
            c.wait_for(lambda s: "command on lab: " in s.text, "c opening the prompt")
            cmd = "echo first; sleep 30; touch %s" % k.marker
            c.type(cmd)
            c.keys("Enter")
            c.wait_for(confirm_line(c, cmd), "the typed line asked exactly")
            c.keys("y")
            t0 = time.monotonic()
            s = c.wait_for(lambda s: any(l.rstrip() == "first" for l in s.lines)
                           and "⟳ running" in s.text, "the first line while it runs")
            check(time.monotonic() - t0 < 10, "streamed before the end")
            c.wait_for(lambda s: "⟳ ssh lab: " + cmd[:20] in status_line(s),
                       "the run on the status line")
            c.keys("1")  # it goes on while the user looks elsewhere
            c.wait_for(lambda s: "[1 nodes]" in s.line(0), "view 1")
            c.keys("7")
            c.wait_for(lambda s: "⟳ running" in s.text and "running on lab" in s.line(0),
                       "the hosts list showing lab running")
            c.keys("o")
            c.wait_for(lambda s: "first" in s.text and "Esc stops" in s.text, "o: the pane")
            c.keys("Escape")
            s = c.wait_for(lambda s: "■ stopped: the command may keep running on 127.0.0.1"
                           in s.text, "Esc stopping it, saying the remote may go on")
            check("⟳" not in status_line(s), "no action running any more: %r" % status_line(s))
            c.keys("Escape")
            c.wait_for(lambda s: "■ stopped" in s.text and "[7 hosts]" in s.line(0),
                       "the hosts list saying it was stopped")
        check(not k.ran(), "the stopped command did not get to its end")
    finally:
        k.close()


@test
def hosts_output_scrollback_bounded():
    k = SshCase()
    try:
        with k.console(w=100, h=30) as c:
            c.port = k.s.port
            open_hosts(c)
            c.keys("c")
            c.type("seq 1 6000")
            c.keys("Enter")
            c.keys("y")
            s = c.wait_for(lambda s: "✓ exit 0 after" in s.text, "seq ending", 20)
            check("6000 lines" in s.text, "6000 lines received:\n%s" % s)
            rows = [l.rstrip() for l in s.lines]
            check("6000" in rows and "5999" in rows, "the end shown:\n%s" % s)
            c.keys("PPage")
            s = c.wait_for(lambda s: "more below" in s.text, "PgUp scrolling up")
            rows = [l.rstrip() for l in s.lines]
            check("6000" not in rows and any(r.isdigit() and 5900 < int(r) < 6000 for r in rows),
                  "the page above:\n%s" % s)
            c.keys("g")
            s = c.wait_for(lambda s: "1001" in [l.rstrip() for l in s.lines], "g: the oldest kept")
            check("1000" not in [l.rstrip() for l in s.lines],
                  "only the last 5000 lines are kept:\n%s" % s)
            c.keys("NPage")
            s = c.wait_for(lambda s: "1001" not in [l.rstrip() for l in s.lines], "PgDn")
            c.keys("G")
            c.wait_for(lambda s: "6000" in [l.rstrip() for l in s.lines]
                       and "more below" not in s.text, "G: back at the end")
    finally:
        k.close()


@test
def hosts_long_lines_wrapped_or_cut():
    """A line wider than the screen wraps as a terminal wraps it (its end in sight); w cuts long
    lines at the edge instead, and w again wraps them."""
    k = SshCase()
    try:
        with k.console(w=80, h=24) as c:
            c.port = k.s.port
            open_hosts(c)
            c.keys("c")
            c.type("printf 'BEGIN%0150dEND\\nshort\\n' 0")
            c.keys("Enter")
            c.keys("y")
            s = c.wait_for(lambda s: "✓ exit 0 after" in s.text, "the command ending")
            rows = [l.rstrip() for l in s.lines]
            i = next((n for n, l in enumerate(rows) if l.startswith("BEGIN0")), -1)
            check(i >= 0 and rows[i + 1].endswith("0END") and rows[i + 2] == "short",
                  "the long line wrapped onto the next row, whole:\n%s" % s)
            check(all(width(l) <= 80 for l in s.lines), "a row wider than the screen:\n%s" % s)
            c.keys("w")
            s = c.wait_for(lambda s: "long lines cut at the edge" in s.text
                           and "0END" not in s.text, "w cutting long lines")
            rows = [l.rstrip() for l in s.lines]
            i = next((n for n, l in enumerate(rows) if l.startswith("BEGIN0")), -1)
            check(i >= 0 and rows[i + 1] == "short", "one row for the cut line:\n%s" % s)
            c.keys("w")
            c.wait_for(lambda s: "long lines wrapped" in s.text and "0END" in s.text,
                       "w again wrapping them")
    finally:
        k.close()


@test
def hosts_hostile_output_inert():
    k = SshCase()
    try:
        with k.console(w=120, h=30) as c:
            c.port = k.s.port
            open_hosts(c)
            c.keys("c")
            c.type("printf '\\033]0;pwned\\007\\033[31mred\\033[0m \\342\\202\\254\\n'")
            c.keys("Enter")
            c.keys("y")
            c.wait_for(lambda s: "✓ exit 0 after" in s.text, "the command ending")
            s = c.capture(escapes=True)
            line = next((l for l in s.lines if "red" in l and "€" in l), None)
            check(line is not None, "the text shown with its UTF-8:\n%s" % s)
            check("?]0;pwned??[31mred?[0m €" in line, "the controls shown inert: %r" % line)
            check("31" not in s.colour_codes(), "an SGR 31 reached the terminal")
            check(c.term.display("#{pane_title}") != "pwned", "the title was changed")
    finally:
        k.close()


@test
def hosts_unknown_key_asked_by_fingerprint():
    k = SshCase(known=False)
    try:
        with k.console(w=160, h=30) as c:
            c.port = k.s.port
            open_commands(c)
            select_where(c, lambda l: l.startswith("touch"), "touch")
            c.keys("Enter")
            c.keys("y")
            q = "%s is the new ED25519 key of lab ([127.0.0.1]:%d): add it to known_hosts? " \
                "y confirms" % (k.s.fp, k.s.port)
            s = c.wait_for(lambda s: q in s.line(c.h - 1), "the key's fingerprint asked about")
            check("is not in %s: its ED25519 key fingerprint is %s" % (k.known_hosts, k.s.fp)
                  in s.text, "the pane says why:\n%s" % s)
            c.keys("n")
            s = c.wait_for(lambda s: "key not accepted" in s.text and "✗ ssh lab:" in s.text,
                           "n: refused")
            check(k.known() == "" and not k.ran(), "nothing written, nothing ran")
            c.keys("Escape")
            c.wait_for(lambda s: "quick commands 3" in s.line(0), "back to the commands")
            c.keys("Enter")
            c.keys("y")
            c.wait_for(lambda s: q in s.line(c.h - 1), "asked again")
            c.keys("y")
            s = c.wait_for(lambda s: "✓ exit 0 after" in s.text, "y: accepted and run")
            check("key accepted: added to " + k.known_hosts in s.text, "said:\n%s" % s)
            check(k.known() == k.s.host_line + "\n" and k.ran(),
                  "known_hosts has the key as OpenSSH writes it: %r" % k.known())
    finally:
        k.close()


@test
def hosts_changed_key_refused_in_red():
    k = SshCase(known=False)
    try:
        other = os.path.join(k.dir, "other")
        sshd_mod.keygen(other)
        with open(k.known_hosts, "w") as f:
            f.write("node-x %s\n[127.0.0.1]:%d %s\n" % (sshd_mod.pub(other), k.s.port,
                                                         sshd_mod.pub(other)))
        before = k.known()
        with k.console(w=160, h=30) as c:
            c.port = k.s.port
            open_commands(c)
            select_where(c, lambda l: l.startswith("touch"), "touch")
            c.keys("Enter")
            c.keys("y")
            s = c.wait_for(lambda s: "REMOTE HOST IDENTIFICATION HAS CHANGED" in s.text
                           and "host key CHANGED" in s.text, "the changed key refused", 15,
                           escapes=True)
            y = next(i for i, l in enumerate(s.lines) if "REMOTE HOST IDENTIFICATION" in l)
            check(k.s.fp in s.lines[y], "the server's fingerprint: %r" % s.lines[y])
            check("%s, line 2 holds another key" % k.known_hosts in s.lines[y + 1],
                  "the known_hosts file and line named: %r" % s.lines[y + 1])
            a = s.attr_at(y, 0)
            check(a is not None and a.bold and a.fg is not None,
                  "drawn in the error style (colour and bold): %r" % a)
            check("y confirms" not in s.line(c.h - 1), "nothing asked: %r" % s.line(c.h - 1))
        check(not k.ran() and k.known() == before, "nothing ran, nothing written")
    finally:
        k.close()


@test
def hosts_readonly_refuses():
    k = SshCase()
    try:
        with k.console(w=140, h=30, args=("--readonly",)) as c:
            c.port = k.s.port
            open_commands(c)
            select_where(c, lambda l: l.startswith("touch"), "touch")
            c.keys("Enter")
            c.wait_for(lambda s: "refused, labdeck runs read-only" in s.line(c.h - 1),
                       "--readonly refusing at once")
            c.keys("c")
            c.type("true")
            c.keys("Enter")
            c.wait_for(lambda s: "run on lab" in s.line(c.h - 1)
                       and "refused, labdeck runs read-only" in s.line(c.h - 1),
                       "a typed command refused too")
            time.sleep(0.5)
        check(not k.ran(), "nothing ran")
    finally:
        k.close()


@test
def hosts_80x24():
    k = SshCase()
    try:
        with k.console() as c:
            s = open_hosts(c)
            hdr = next(l for l in s.lines if l.lstrip().startswith("NAME"))
            check("ADDRESS" in hdr and "LAST" in hdr, "the columns that matter fit: %r" % hdr)
            row = next(l for l in s.lines if l.startswith("lab "))
            check("root@127.0.0.1:%d" % k.s.port in row, "the address in full: %r" % row)
            check(all(width(l) <= 80 for l in s.lines), "nothing wider than the terminal")
    finally:
        k.close()
