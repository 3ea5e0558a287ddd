"""labsim selftest: what the topology reads — the guest agent's interfaces
(/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces), node addresses equal to the guests'
agent addresses, pods with their resources, and the knobs POST /proxmox/guest and
POST /kubernetes/node (restored at the end: the instance is shared)."""

import json

from selftest_proxmox_tasks import pve


def agent(inst, node, vmid):
    return pve(inst, "GET", "/nodes/%s/qemu/%d/agent/network-get-interfaces" % (node, vmid))


def addresses(doc):
    return [a["ip-address"] for i in doc["data"]["result"] for a in i.get("ip-addresses", [])]


def checks(inst, check):
    st, _, doc = agent(inst, "pve-a", 101)
    check("topology: 101's agent lists lo and eth0 with 10.10.0.11",
          st == 200 and [i["name"] for i in doc["data"]["result"]] == ["lo", "eth0"]
          and "10.10.0.11" in addresses(doc) and "127.0.0.1" in addresses(doc), doc)
    st, reason, doc = agent(inst, "pve-a", 103)
    check("topology: a guest without agent answers 500 as Proxmox does",
          st == 500 and "guest agent" in (doc or {}).get("message", ""), (st, reason, doc))
    nodes = json.loads(inst.get("kubernetes", "/api/v1/nodes")[3])["items"]
    ips = {n["metadata"]["name"]: [a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
           for n in nodes}
    st, _, doc = agent(inst, "pve-b", 102)
    check("topology: node InternalIPs are the guests' agent addresses",
          ips.get("k8s-node-a") == ["10.10.0.11"] and ips.get("k8s-node-b", [""])[0] in addresses(doc), (ips, doc))
    body = inst.get("kubernetes", "/api/v1/pods?fieldSelector=status.phase%21%3DSucceeded")[3]
    pods = json.loads(body)["items"]
    ollama = [p for p in pods if p["metadata"]["namespace"] == "models"]
    check("topology: full pods carry requests and a ReplicaSet owner named after the hash",
          ollama and ollama[0]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "4"
          and ollama[0]["metadata"]["ownerReferences"][0]["name"].endswith(
              "-" + ollama[0]["metadata"]["labels"]["pod-template-hash"]), ollama[:1])
    st, d = inst.admin("POST", "/proxmox/guest", {"vmid": 102, "cores": 70, "memory_mib": 70000, "agent": False})
    st2, _, doc = pve(inst, "GET", "/nodes/pve-b/qemu/102/status/current")
    st3, _, _ = agent(inst, "pve-b", 102)
    check("topology: POST /proxmox/guest resizes a guest and drops its agent",
          st == 200 and doc["data"]["cpus"] == 70 and doc["data"]["maxmem"] == 70000 * 2**20 and st3 == 500,
          (d, doc, st3))
    inst.admin("POST", "/proxmox/guest", {"vmid": 102, "cores": 8, "memory_mib": 49152, "agent": True})
    st, d = inst.admin("POST", "/kubernetes/node", {"name": "k8s-node-b", "alloc_cpu_m": 4000})
    n = json.loads(inst.get("kubernetes", "/api/v1/nodes/k8s-node-b")[3])
    check("topology: POST /kubernetes/node shrinks allocatable",
          st == 200 and n["status"]["allocatable"]["cpu"] == "4000m", (d, n["status"]["allocatable"]))
    inst.admin("POST", "/kubernetes/node", {"name": "k8s-node-b", "alloc_cpu_m": 7800})
