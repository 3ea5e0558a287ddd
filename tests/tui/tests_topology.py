# The topology view (8, :topology): hosts -> guests -> the Kubernetes node in a guest ->
# workloads, with bars and figures beside each line, fitting 80x24 and growing at 160x50; Enter
# folding and unfolding; warnings under the tree with their level word; a source that fails shown
# as a line naming it while the rest stays. Read into run.py's namespace (Console, lab, @test...).


def open_topology(c, timeout=20.0):
    c.first_frame()
    c.keys("8")
    # The tree's own header and rows (the dashboard also names pve-a and k8s-node-b, and a
    # capture can fall between the tab bar's redraw and the body's).
    return c.wait_for(lambda s: "[8 topology]" in s.line(0) and "HOST / GUEST" in s.text
                      and "▾ pve-a" in s.text and "k8s-node-b ●" in s.text,
                      "the topology view with data", timeout)


def row_with(s, text):
    for i, line in enumerate(s.lines):
        if text in line:
            return i, line
    return -1, ""


@test
def topology_tree_80x24():
    with Console(lab()) as c:
        s = open_topology(c)
        check(all(width(line) <= 80 for line in s.lines), "a line wider than 80 columns:\n%s" % s)
        _, host = row_with(s, "pve-a")
        # 8 vCPUs of 12 given on pve-a, 17.5 GiB of 31.1 GiB: bars and the figures beside them
        check(re.search(r"8\.0/12", host) and "17.5Gi/31.1Gi" in host and "█" in host,
              "pve-a's line has bars and figures:\n%s" % s)
        _, guest = row_with(s, "101 k8s-node-a")
        check(guest.strip().startswith("▾"), "a guest holding a node is unfolded:\n%s" % s)
        _, node = row_with(s, "node k8s-node-a")
        check("(address)" in node and "▸" in node, "the node line, matched by address, folded:\n%s" % s)
        check("1.2/5.8" in node, "the node's allocatable cpu:\n%s" % s)
        _, pci = row_with(s, "102 k8s-node-b")
        check("PCI" in pci, "102 shows its passthrough:\n%s" % s)
        check("lab/backend" not in s.text, "workloads hidden while the node is folded:\n%s" % s)
        check(any("No warnings" in line for line in s.lines) or "Warnings:" in s.text,
              "the warnings heading under the tree:\n%s" % s)
        # Enter on the node unfolds it: its workloads appear; again folds them away
        select_where(c, lambda t: "node k8s-node-a" in t, "on node k8s-node-a")
        c.keys("Enter")
        s = c.wait_for(lambda s: "lab/backend" in s.text, "node a's workloads after Enter")
        _, wl = row_with(s, "lab/backend")
        check("Deployment" in wl and "0.2/5.8" in wl, "workload line with requests:\n%s" % s)
        c.keys("Enter")
        c.wait_for(lambda s: "lab/backend" not in s.text, "folded again")
        # o opens a node's pods, and a guest in the guests view with its row selected
        c.keys("o")
        s = c.wait_for(lambda s: "[3 pods]" in s.line(0) and "k8s-node-a" in s.line(c.h - 1),
                       "o on the node: the pods view filtered to k8s-node-a")
        check(re.search(r"filter: k8s-node-a +\(\d+ matches", s.line(c.h - 1))
              and not any(l.startswith("models ") for l in s.lines),
              "only node a's pods (the models run on node b):\n%s" % s)
        c.keys("8")
        c.wait_for(lambda s: "[8 topology]" in s.line(0), "back to the topology")
        select_where(c, lambda t: "110 dns" in t, "on guest 110")
        c.keys("o")
        s = c.wait_for(lambda s: "[2 guests]" in s.line(0), "o on a guest: the guests view",
                       escapes=True)
        sel = selected_rows(s, c.h)
        check(sel and re.match(r"\s*110\s", s.line(sel[0])), "guest 110 selected:\n%s" % s)
        c.keys("q")
        check(c.terminal_restored(expect_exit=0) == 0, "exit")


@test
def topology_160x50_warnings_and_outage():
    lb = Lab("--churn", "0")
    try:
        lb._admin("POST", "/proxmox/guest", {"vmid": 102, "cores": 70, "memory_mib": 70000})
        lb._admin("POST", "/kubernetes/node", {"name": "k8s-node-b", "alloc_cpu_m": 4000})
        with Console(lb, w=160, h=50) as c:
            s = open_topology(c)
            check(all(width(line) <= 160 for line in s.lines), "a line wider than 160:\n%s" % s)
            check("CPU allocated/capacity" in s.text, "the wide header:\n%s" % s)
            _, host = row_with(s, "pve-b")
            check("70.0/16!!" in host and "used" in host, "pve-b over its CPUs, with use:\n%s" % s)
            s = c.wait_for(lambda s: "WARN pve-b: 70 vCPUs" in s.text
                           and "CRIT node k8s-node-b: CPU requests" in s.text,
                           "warnings with level words")
            lb.fault("kubernetes", "status", code=503, path="/api/v1/pods", count=100)
            c.keys("r")
            s = c.wait_for(lambda s: "✗ kubernetes" in s.text, "the failing source as a line", 30)
            check("pve-b" in s.text and "k8s-node-b" in s.text, "the rest still shown:\n%s" % s)
            c.keys("q")
            check(c.terminal_restored(expect_exit=0) == 0, "exit")
    finally:
        lb.close()


@test
def topology_live_from_shared_data():
    """The view follows the data the dashboard's poller and the pod store already fetch: a guest
    given more memory shows on its host's line after the next poll, and while it is on screen it
    asks nothing of its own but Ollama's models
    (at most once per poll) — no second /cluster/resources poll, no pod list, no agent question
    again."""
    lb = Lab("--churn", "0")
    try:
        cfg = lb.write_config(open(lb.config).read() + "\n[ui]\nrefresh = 1\n")
        with Console(lb, config=cfg) as c:
            s = open_topology(c)
            _, host = row_with(s, "pve-a")
            check("17.5G" in host or "17.5Gi" in host, "pve-a's 17.5 GiB given:\n%s" % s)
            # The tree is built; from now on count what is asked while it stays on screen.
            lb._admin("DELETE", "/requests")
            lb._admin("POST", "/proxmox/guest", {"vmid": 112, "memory_mib": 4096})
            s = c.wait_for(lambda s: "20.5G" in row_with(s, "pve-a")[1],
                           "pve-a's line with 112's new memory (20.5 GiB given)", 15)

            def polls():
                return [r for r in lb.requests() if r["path"].startswith("/api2/json/cluster/resources")]
            c.wait_for(lambda s: len(polls()) >= 3, "three polls of the dashboard's data", 15)
            reqs = lb.requests()
            res = polls()
            pod_lists = [r for r in reqs if r["path"].startswith("/api/v1/pods")
                         and "watch=1" not in r["path"]]
            agents = [r for r in reqs if "/agent/" in r["path"]]
            ps = [r for r in reqs if r["path"].startswith("/api/ps")]
            check(not pod_lists, "no pod list while the tree is shown: %s" % [r["path"] for r in pod_lists])
            check(not agents, "the agents were asked once, not again: %s" % [r["path"] for r in agents])
            check(len(ps) <= len(res) + 1, "Ollama asked at most once per poll (%d vs %d polls)"
                  % (len(ps), len(res)))
            times = sorted(r["time"] for r in res)
            gaps = [b - a for a, b in zip(times, times[1:])]
            check(all(g > 0.5 for g in gaps), "one /cluster/resources per interval, not two "
                  "(gaps %s)" % ["%.2f" % g for g in gaps])
            c.keys("q")
            check(c.terminal_restored(expect_exit=0) == 0, "exit")
    finally:
        lb.close()
