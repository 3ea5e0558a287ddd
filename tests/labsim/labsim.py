#!/usr/bin/env python3
"""labsim: the simulated lab (Proxmox VE + Kubernetes + Ollama, Gemini and an
OpenAI-compatible server) on loopback.

    python3 tests/labsim/labsim.py --dir DIR [--pods N] [--k8s-auth token|cert|exec]
                                   [--no-metrics] [--pve-offline NODE] [--fault SPEC]...
                                   [--churn SECONDS] [--log-interval SECONDS] [--hostile-names] [--hostile]
                                   [--llm-chunk-ms MS] [--sshd]

Writes TLS material, a kubeconfig, a labdeck.ini and finally DIR/state.json,
prints "labsim ready DIR/state.json" and serves until SIGTERM/SIGINT/SIGHUP.
With --sshd it also runs a real sshd on loopback (demo_sshd.py) for the hosts view.
See README.md beside this file.
"""

import argparse
import atexit
import datetime
import json
import os
import secrets
import signal
import sys
import threading
import uuid

sys.dont_write_bytecode = True  # labsim writes nothing outside --dir (no __pycache__)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import core  # noqa: E402
from core import App, b64, cert_fingerprint, write_file  # noqa: E402
from gemini import Gemini  # noqa: E402
from kubernetes import Kubernetes  # noqa: E402
from lab import Lab  # noqa: E402
from ollama import Ollama  # noqa: E402
from openai_compat import OpenAICompat  # noqa: E402
from proxmox import Proxmox  # noqa: E402

PVE_TOKEN_ID = "root@pam!labdeck"
K8S_CLIENT_CN = "labdeck-admin"

EXEC_PLUGIN = r'''#!/usr/bin/env python3
# labsim's client-go credential plugin: prints an ExecCredential and counts
# its calls in exec-plugin.calls beside this file.
import datetime, json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "exec-plugin.calls"), "a") as f:
    f.write("%d %s\n" % (os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
json.dump({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {},
           "status": {"expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ"), "token": TOKEN}},
          sys.stdout)
sys.stdout.write("\n")
'''


def q(s):
    """A YAML scalar: JSON strings are valid YAML double-quoted scalars."""
    return json.dumps(s)


def kubeconfig_text(server, ca_pem, auth, token, other_token, exec_cmd, exec_script, client_cert, client_key,
                    state_dir):
    lines = [
        "apiVersion: v1",
        "kind: Config",
        "preferences: {}",
        "clusters:",
        "- cluster:",
        "    certificate-authority-data: " + b64(ca_pem),
        "    server: " + q(server),
        "  name: labsim",
        "contexts:",
        "- context:",
        "    cluster: labsim",
        "    user: labsim-admin",
        "  name: labsim",
        "- context:",
        "    cluster: labsim",
        "    namespace: lab",
        "    user: other",
        "  name: other",
        "current-context: labsim",
        "users:",
        "- name: labsim-admin",
        "  user:",
    ]
    if auth == "token":
        lines.append("    token: " + q(token))
    elif auth == "cert":
        lines.append("    client-certificate-data: " + b64(client_cert))
        lines.append("    client-key-data: " + b64(client_key))
    else:
        lines += [
            "    exec:",
            "      apiVersion: client.authentication.k8s.io/v1beta1",
            "      command: " + q(exec_cmd),
            "      args:",
            "      - " + q(exec_script),
            "      env:",
            "      - name: LABSIM_DIR",
            "        value: " + q(state_dir),
            "      interactiveMode: Never",
            "      provideClusterInfo: false",
        ]
    lines += [
        "- name: other",
        "  user:",
        "    token: " + q(other_token),
        "",
    ]
    return "\n".join(lines)


# The operations services (ArgoCD, GitHub, Airflow, Discord): one module each, loaded when its
# file is there. A module offers
#   add_arguments(ap)                      optional: its command-line options
#   make(lab, P, args) -> backend          the backend (see core.App.add_backend: .name, .handle,
#                                          .fault_status, .malformed_body, .json_type), with
#   backend.tls(P) -> ssl context or None  HTTPS or plain HTTP
#   backend.ini(url, P) -> [lines]         its labdeck.ini section(s), secrets in files under P
#   backend.state(url) -> dict             what goes into state.json under backend.name
OPERATIONS = ("argocd", "github", "airflow", "discord")


def operation_modules():
    mods = []
    for name in OPERATIONS:
        if os.path.exists(os.path.join(HERE, name + ".py")):
            mods.append(__import__(name))
    return mods


def main(argv=None):
    ap = argparse.ArgumentParser(prog="labsim", description="Simulated Proxmox VE + Kubernetes lab on loopback.")
    ap.add_argument("--dir", required=True, help="state directory (created if missing)")
    ap.add_argument("--pods", type=int, default=None, help="total number of pods (default %d)" % Lab.BASE_PODS)
    ap.add_argument("--k8s-auth", choices=("token", "cert", "exec"), default="token")
    ap.add_argument("--no-metrics", action="store_true", help="no metrics-server (metrics.k8s.io answers 404)")
    ap.add_argument("--pve-offline", action="append", default=[], metavar="NODE",
                    help="Proxmox node shown offline (repeatable)")
    ap.add_argument("--fault", action="append", default=[], metavar="SPEC",
                    help="backend:kind[:key=val,...][@/path/prefix][#count] (repeatable)")
    ap.add_argument("--churn", type=float, default=5.0, metavar="SECONDS",
                    help="a pod restarts or is replaced every SECONDS (default 5; 0 disables)")
    ap.add_argument("--log-interval", type=float, default=0.5, metavar="SECONDS",
                    help="a running container logs a new line every SECONDS (default 0.5; 0: never)")
    ap.add_argument("--hostile-names", action="store_true",
                    help="terminal escape sequences in a guest name, a node label, a log line and an event")
    ap.add_argument("--hostile", action="store_true",
                    help="--hostile-names, and terminal escape payloads in every text field of every service")
    ap.add_argument("--llm-chunk-ms", type=float, default=2.0, metavar="MS",
                    help="pause between the writes of a model's streamed answer (default 2)")
    ap.add_argument("--sshd", action="store_true",
                    help="also run OpenSSH's sshd on loopback and add the host [ssh \"lab-shell\"] "
                         "to labdeck.ini (left out, with one line on stderr, when sshd cannot start)")
    ops = operation_modules()
    for m in ops:
        if hasattr(m, "add_arguments"):
            m.add_arguments(ap)
    args = ap.parse_args(argv)

    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    try:  # a waiting script must not mistake an old run's state for this one
        os.unlink(os.path.join(d, "state.json"))
    except FileNotFoundError:
        pass
    faults = []
    for spec in args.fault:
        try:
            faults.append(core.parse_fault_spec(spec))
        except ValueError as e:
            ap.error(str(e))
    if args.pods is not None and args.pods < 0:
        ap.error("--pods must be >= 0")
    if args.churn < 0 or args.log_interval < 0 or args.llm_chunk_ms < 0:
        ap.error("--churn, --log-interval and --llm-chunk-ms must be >= 0")

    lab = Lab(pods=args.pods, metrics=not args.no_metrics, hostile=args.hostile_names,
              log_interval=args.log_interval, hostile_all=args.hostile)
    for n in args.pve_offline:
        if n not in lab.pve_node_by_name:
            ap.error("--pve-offline: unknown node %r (pve-a, pve-b)" % n)
        lab.pve_offline.add(n)

    P = lambda name: os.path.join(d, name)  # noqa: E731
    # Proxmox: a self-signed node certificate (CA:TRUE, so it doubles as ca_file).
    core.make_self_signed(P("pve-cert.pem"), P("pve-key.pem"),
                          "/OU=PVE Cluster Node/O=Proxmox Virtual Environment/CN=pve-a.lab")
    pve_fp = cert_fingerprint(P("pve-cert.pem"))
    lab.pve_node_by_name["pve-a"].ssl_fingerprint = pve_fp
    fp_b = secrets.token_hex(32).upper()
    lab.pve_node_by_name["pve-b"].ssl_fingerprint = ":".join(fp_b[i:i + 2] for i in range(0, 64, 2))
    # Kubernetes: a CA, the apiserver cert, and (cert auth) a client cert.
    core.make_ca(P("k8s-ca.pem"), P("k8s-ca-key.pem"), "/CN=kubernetes")
    core.make_signed(P("k8s-server.pem"), P("k8s-server-key.pem"), "/CN=kube-apiserver",
                     P("k8s-ca.pem"), P("k8s-ca-key.pem"), server=True)
    client_cert = client_key = b""
    if args.k8s_auth == "cert":
        core.make_signed(P("k8s-client.pem"), P("k8s-client-key.pem"),
                         "/O=system:masters/CN=" + K8S_CLIENT_CN, P("k8s-ca.pem"), P("k8s-ca-key.pem"),
                         server=False)
        with open(P("k8s-client.pem"), "rb") as f:
            client_cert = f.read()
        with open(P("k8s-client-key.pem"), "rb") as f:
            client_key = f.read()

    pve_secret = str(uuid.uuid4())
    k8s_token = "labsim." + secrets.token_hex(16)
    exec_token = "labsim-exec." + secrets.token_hex(16)
    other_token = "labsim-other." + secrets.token_hex(16)
    tokens = {k8s_token}
    if args.k8s_auth == "exec":
        tokens.add(exec_token)

    app = App()
    for f in faults:
        app.faults.add(f)
    pve = Proxmox(lab, PVE_TOKEN_ID, pve_secret)
    k8s = Kubernetes(lab, tokens, client_cn=K8S_CLIENT_CN if args.k8s_auth == "cert" else None)
    pve_port = app.add_backend(pve, core.server_context(P("pve-cert.pem"), P("pve-key.pem")))
    k8s_port = app.add_backend(k8s, core.server_context(
        P("k8s-server.pem"), P("k8s-server-key.pem"),
        client_ca=P("k8s-ca.pem") if args.k8s_auth == "cert" else None))
    # the model services: plain HTTP, as on a home lab's LAN
    gemini_key = "AIza" + secrets.token_urlsafe(26)[:35]  # the shape of a real key: 39 characters
    openai_key = "sk-labsim-" + secrets.token_hex(16)
    ollama_port = app.add_backend(Ollama(chunk_ms=args.llm_chunk_ms), None)
    gemini_port = app.add_backend(Gemini(gemini_key, chunk_ms=args.llm_chunk_ms), None)
    openai_port = app.add_backend(OpenAICompat(openai_key, chunk_ms=args.llm_chunk_ms), None)
    op_backends = [m.make(lab, P, args) for m in ops]
    op_urls = {}
    for b in op_backends:
        ctx = b.tls(P)
        port = app.add_backend(b, ctx)
        op_urls[b.name] = "%s://127.0.0.1:%d" % ("https" if ctx else "http", port)
    admin_port = app.add_admin()
    pve_url = "https://127.0.0.1:%d" % pve_port
    k8s_url = "https://127.0.0.1:%d" % k8s_port
    ollama_url = "http://127.0.0.1:%d" % ollama_port
    gemini_url = "http://127.0.0.1:%d" % gemini_port
    openai_url = "http://127.0.0.1:%d/v1" % openai_port

    with open(P("k8s-ca.pem"), "rb") as f:
        ca_pem = f.read()
    sshd = None
    if args.sshd:  # the demo's SSH host; when it cannot start, one line on stderr and no [ssh]
        import demo_sshd
        sshd = demo_sshd.start(d, P)
        if sshd:  # stopped below, or at exit after an exception; by PDEATHSIG if labsim is killed
            atexit.register(sshd.stop)
    if args.k8s_auth == "exec":
        write_file(P("exec-plugin.py"), EXEC_PLUGIN.replace("TOKEN", json.dumps(exec_token)), 0o700)
    write_file(P("kubeconfig"), kubeconfig_text(k8s_url, ca_pem, args.k8s_auth, k8s_token, other_token,
                                                sys.executable, P("exec-plugin.py"), client_cert, client_key, d),
               0o600)
    write_file(P("pve-token"), pve_secret + "\n", 0o600)
    write_file(P("gemini-key"), gemini_key + "\n", 0o600)
    write_file(P("openai-key"), openai_key + "\n", 0o600)
    write_file(P("labdeck.ini"), "\n".join([
        "; written by labsim for the lab in " + d,
        "[proxmox]",
        "url = " + pve_url,
        "token_id = " + PVE_TOKEN_ID,
        "token_secret_file = " + P("pve-token"),
        "ca_file = " + P("pve-cert.pem"),
        "",
        "[kubernetes]",
        "kubeconfig = " + P("kubeconfig"),
        "",
        "[ollama]",
        "url = " + ollama_url,
        "chat_model = qwen2.5:14b",
        "summary_model = exaone3.5:7.8b",
        "embed_model = bge-m3",
        "",
        "[gemini]",
        "url = " + gemini_url,
        "api_key_file = " + P("gemini-key"),
        "model = gemini-2.5-pro",
        "",
        "[openai]",
        "url = " + openai_url,
        "model = local",
        "api_key_file = " + P("openai-key"),
        "",
        "[topology]",
        "; Ollama is served on loopback here, so no guest's address points at it: name the guest",
        "ollama = 102",
        "",
    ] + [line for b in op_backends for line in b.ini(op_urls[b.name], P) + [""]]
      + (sshd.ini_lines() + [""] if sshd else [])), 0o600)

    state = {
        "pid": os.getpid(),
        "proxmox": {"url": pve_url, "port": pve_port},
        "kubernetes": {"url": k8s_url, "port": k8s_port},
        "ollama": {"url": ollama_url, "port": ollama_port},
        "gemini": {"url": gemini_url, "port": gemini_port},
        "openai": {"url": openai_url, "port": openai_port},
        "admin": {"url": "http://127.0.0.1:%d" % admin_port, "port": admin_port},
        "pve_fingerprint": pve_fp,
        "pve_token_id": PVE_TOKEN_ID,
        "pve_token_secret": pve_secret,
        "k8s_auth": args.k8s_auth,
        "k8s_token": k8s_token,
        "k8s_other_token": other_token,
        "gemini_api_key": gemini_key,
        "openai_api_key": openai_key,
        "llm_chunk_ms": args.llm_chunk_ms,
        "kubeconfig": P("kubeconfig"),
        "config": P("labdeck.ini"),
        "pods": len(lab.podset.pods),
        "churn": args.churn,
        "hostile_names": args.hostile_names or args.hostile,
        "hostile": args.hostile,
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if args.k8s_auth == "exec":
        state["k8s_exec_token"] = exec_token
    for b in op_backends:
        state[b.name] = b.state(op_urls[b.name])
    if sshd:
        state["ssh"] = sshd.state()
    app.state = state

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)  # a closed terminal: stop as cleanly (and stop sshd)
    app.start()
    k8s.warm()
    if args.churn > 0:
        lab.start_churn(args.churn, stop)
    write_file(P("state.json"), json.dumps(state, indent=2) + "\n", 0o600)
    sys.stdout.write("labsim ready %s\n" % P("state.json"))
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    app.shutdown()
    if sshd:
        sshd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
