"""labsim selftest: Proxmox power actions and their tasks (POST .../status/ACTION,
/nodes/{node}/tasks/{upid}/status and /log, the admin knob POST /proxmox/tasks).
selftest.py runs checks(inst, check) against its first instance; the guests it
touches are back as they were at the end."""

import json
import re
import urllib.parse

UPID_RX = re.compile(r"^UPID:(pve-[ab]):([0-9A-F]{8}):([0-9A-F]{8}):([0-9A-F]{8}):([a-z]+):(\d+):"
                     r"root@pam!labdeck:$")


def pve(inst, method, path, auth=True):
    h = {}
    if auth:
        h["Authorization"] = "PVEAPIToken=%s=%s" % (inst.state["pve_token_id"], inst.state["pve_token_secret"])
    if method == "POST":
        h["Content-Type"] = "application/x-www-form-urlencoded"
    c = inst.conn("proxmox")
    try:
        c.request(method, "/api2/json" + path, body=b"" if method == "POST" else None, headers=h)
        r = c.getresponse()
        body = r.read()
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        return r.status, r.reason, doc
    finally:
        c.close()


def q(upid):
    return urllib.parse.quote(upid, safe="")


def follow(inst, node, upid, limit=10):
    """Reads the status until it says stopped; -> (list of statuses seen, last data)."""
    seen = []
    data = None
    for _ in range(limit):
        st, _, doc = pve(inst, "GET", "/nodes/%s/tasks/%s/status" % (node, q(upid)))
        if st != 200:
            return seen + ["HTTP %d" % st], doc
        data = doc["data"]
        seen.append(data["status"])
        if data["status"] == "stopped":
            break
    return seen, data


def guest_status(inst, node, gtype, vmid):
    st, _, doc = pve(inst, "GET", "/nodes/%s/%s/%d/status/current" % (node, gtype, vmid))
    return doc["data"]["status"] if st == 200 else "HTTP %d" % st


def checks(a, check):
    check("task knobs reset", a.admin("POST", "/proxmox/tasks", {"polls": 3, "seconds": 10,
                                                                  "power_denied": False})[0] == 200)
    # start a stopped VM: a UPID in PVE's format, running, running, stopped OK; the guest runs
    st, reason, doc = pve(a, "POST", "/nodes/pve-a/qemu/103/status/start")
    upid = (doc or {}).get("data") or ""
    m = UPID_RX.match(upid)
    check("POST qemu/103/status/start -> 200 {data: UPID}", st == 200 and m is not None, (st, doc))
    if not m:
        return
    check("the UPID names node, type qmstart and the vmid",
          m.group(1) == "pve-a" and m.group(5) == "qmstart" and m.group(6) == "103", upid)
    seen, data = follow(a, "pve-a", upid)
    check("task status advances over polls: running, running, stopped", seen == ["running", "running", "stopped"],
          seen)
    check("stopped with exitstatus OK and the task's fields",
          data and data.get("exitstatus") == "OK" and data.get("type") == "qmstart" and data.get("id") == "103"
          and data.get("node") == "pve-a" and data.get("upid") == upid and data.get("user") == "root@pam"
          and data.get("tokenid") == "labdeck" and isinstance(data.get("pid"), int)
          and isinstance(data.get("starttime"), int), data)
    check("the guest runs after the task", guest_status(a, "pve-a", "qemu", 103) == "running")
    st, _, doc = pve(a, "GET", "/nodes/pve-a/tasks/%s/log?start=0&limit=50" % q(upid))
    check("the log ends with TASK OK", st == 200 and doc["data"][-1] == {"n": len(doc["data"]), "t": "TASK OK"}
          and doc.get("total") == len(doc["data"]), doc)

    # start it again: PVE's qemu worker fails with "VM 103 already running"
    st, _, doc = pve(a, "POST", "/nodes/pve-a/qemu/103/status/start")
    check("start of a running VM still gives a task", st == 200 and UPID_RX.match(doc["data"] or ""), doc)
    seen, data = follow(a, "pve-a", doc["data"])
    check("... that fails: exitstatus 'VM 103 already running'",
          data and data["status"] == "stopped" and data["exitstatus"] == "VM 103 already running", data)
    st, _, doc2 = pve(a, "GET", "/nodes/pve-a/tasks/%s/log" % q(doc["data"]))
    check("its log ends with TASK ERROR", st == 200 and doc2["data"][-1]["t"] == "TASK ERROR: VM 103 already running",
          doc2)

    # the knob: the next task fails with a given exitstatus and log
    st, _ = a.admin("POST", "/proxmox/tasks", {"fail": {"exitstatus": "command 'qm stop' failed: got timeout",
                                                        "log": ["trying to acquire lock...", "got timeout"]}})
    check("admin POST /proxmox/tasks fail", st == 200)
    st, _, doc = pve(a, "POST", "/nodes/pve-a/qemu/103/status/stop")
    seen, data = follow(a, "pve-a", doc["data"])
    check("the failing task ends with the given exitstatus",
          data and data["exitstatus"] == "command 'qm stop' failed: got timeout", data)
    st, _, doc2 = pve(a, "GET", "/nodes/pve-a/tasks/%s/log?start=1&limit=1" % q(doc["data"]))
    check("log start/limit pages the given lines", st == 200 and doc2["data"] == [{"n": 2, "t": "got timeout"}]
          and doc2["total"] == 3, doc2)
    check("a failed task leaves the guest as it was", guest_status(a, "pve-a", "qemu", 103) == "running")

    # stop: the guest stops; reboot of a stopped VM is refused before any task
    st, _, doc = pve(a, "POST", "/nodes/pve-a/qemu/103/status/stop")
    seen, data = follow(a, "pve-a", doc["data"])
    check("stop -> qmstop OK, the guest is stopped",
          data and data["type"] == "qmstop" and data["exitstatus"] == "OK"
          and guest_status(a, "pve-a", "qemu", 103) == "stopped", data)
    st, reason, doc = pve(a, "POST", "/nodes/pve-a/qemu/103/status/reboot")
    check("reboot of a stopped VM: 500 VM 103 not running (reason and message)",
          st == 500 and reason == "VM 103 not running" and doc == {"data": None, "message": "VM 103 not running\n"},
          (st, reason, doc))
    st, reason, doc = pve(a, "POST", "/nodes/pve-b/lxc/111/status/shutdown")
    check("shutdown of a stopped CT: 500 CT 111 not running", st == 500 and reason == "CT 111 not running",
          (st, reason))
    st, reason, doc = pve(a, "POST", "/nodes/pve-a/lxc/110/status/start")
    check("start of a running CT: 500 CT 110 already running", st == 500 and reason == "CT 110 already running",
          (st, reason))
    st, reason, doc = pve(a, "POST", "/nodes/pve-a/qemu/999/status/start")
    check("unknown vmid: 500 Configuration file ... does not exist",
          st == 500 and reason == "Configuration file 'nodes/pve-a/qemu-server/999.conf' does not exist",
          (st, reason))

    # a token without VM.PowerMgmt
    a.admin("POST", "/proxmox/tasks", {"power_denied": True})
    st, reason, doc = pve(a, "POST", "/nodes/pve-a/qemu/103/status/start")
    check("power_denied: 403 Permission check failed (/vms/103, VM.PowerMgmt)",
          st == 403 and reason == "Permission check failed (/vms/103, VM.PowerMgmt)"
          and doc["message"] == "Permission check failed (/vms/103, VM.PowerMgmt)\n", (st, reason, doc))
    a.admin("POST", "/proxmox/tasks", {"power_denied": False})
    check("POST without a token: 401", pve(a, "POST", "/nodes/pve-a/qemu/103/status/start", auth=False)[0] == 401)

    # tasks: a bad UPID is a 400, an unknown one a 500; without polls a task ends by time
    st, _, doc = pve(a, "GET", "/nodes/pve-a/tasks/nonsense/status")
    check("a malformed upid: 400 with errors.upid", st == 400 and "upid" in (doc or {}).get("errors", {}), doc)
    st, reason, _ = pve(a, "GET", "/nodes/pve-a/tasks/%s/status"
                        % q("UPID:pve-a:00000001:00000001:00000001:qmstart:101:root@pam:"))
    check("an unknown upid: 500 unable to open file", st == 500 and "unable to open file" in reason, reason)
    st, _ = a.admin("POST", "/proxmox/tasks", {"seconds": 0})
    st, _, doc = pve(a, "POST", "/nodes/pve-b/lxc/111/status/start")
    st2, _, doc2 = pve(a, "GET", "/nodes/pve-b/tasks/%s/log" % q(doc["data"]))
    check("seconds=0: the task has ended without a status poll (log read)",
          st2 == 200 and doc2["data"][-1]["t"] == "TASK OK" and guest_status(a, "pve-b", "lxc", 111) == "running",
          doc2)
    seen, data = follow(a, "pve-b", doc["data"])
    check("... and its status says stopped OK, type vzstart", seen == ["stopped"] and data["type"] == "vzstart",
          (seen, data))
    pve(a, "POST", "/nodes/pve-b/lxc/111/status/stop")
    check("lxc stop ends by time too: stopped", guest_status(a, "pve-b", "lxc", 111) == "stopped")
    st, _, doc = pve(a, "GET", "/cluster/resources?type=vm")
    rows = {r["vmid"]: r for r in doc["data"]}
    check("the guests are back as they were (103, 111 stopped)",
          rows[103]["status"] == "stopped" and rows[111]["status"] == "stopped", (rows[103], rows[111]))
    a.admin("POST", "/proxmox/tasks", {"polls": 3, "seconds": 10})
    check("the request record has the POSTs",
          any(r["method"] == "POST" and r["path"].endswith("/qemu/103/status/start")
              for r in a.admin("GET", "/requests?backend=proxmox")[1]["requests"]))
