"""labsim selftest, part 2: the model services (Ollama, Gemini, the
OpenAI-compatible server) and their fault kinds.  selftest.py runs these
against its first instance; each function takes the instance and `check`.
"""

import json
import math
import os
import socket
import stat
import time

# --------------------------------------------------------------------------
# a raw HTTP/1.1 client: it keeps the reads and the chunks as they came


class Raw:
    """One request on a fresh connection.  .status .headers .reads (each
    recv) .chunks (each HTTP chunk, i.e. each write of the server) .body
    .terminated (the zero-size chunk came) .timed_out .elapsed .first_byte"""

    def __init__(self, port, method, path, body=None, headers=None, timeout=10.0):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        body = body or b""
        h = {"Host": "127.0.0.1:%d" % port, "Connection": "close"}
        if body:
            h["Content-Type"] = "application/json"
            h["Content-Length"] = str(len(body))
        h.update(headers or {})
        req = "%s %s HTTP/1.1\r\n%s\r\n" % (method, path, "".join("%s: %s\r\n" % kv for kv in h.items()))
        t0 = time.time()
        self.reads = []
        self.timed_out = False
        self.first_byte = None
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            s.sendall(req.encode("latin-1") + body)
            while True:
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    self.timed_out = True
                    break
                except ConnectionResetError:
                    break
                if not d:
                    break
                if self.first_byte is None:
                    self.first_byte = time.time() - t0
                self.reads.append(d)
        finally:
            s.close()
        self.elapsed = time.time() - t0
        raw = b"".join(self.reads)
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else None
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers.setdefault(k.strip().lower(), v.strip())
        self.chunks = []
        self.terminated = False
        if self.headers.get("transfer-encoding") == "chunked":
            i = 0
            while i < len(rest):
                j = rest.find(b"\r\n", i)
                if j < 0:
                    break
                size = int(rest[i:j].split(b";")[0] or b"0", 16)
                if size == 0:
                    self.terminated = True
                    break
                self.chunks.append(rest[j + 2:j + 2 + size])
                i = j + 2 + size + 2
            self.body = b"".join(self.chunks)
        else:
            self.body = rest

    def json(self):
        return json.loads(self.body)


def post(inst, backend, path, obj, headers=None, timeout=10.0):
    return Raw(inst.state[backend]["port"], "POST", path, obj, headers, timeout)


def get(inst, backend, path, headers=None, timeout=10.0):
    return Raw(inst.state[backend]["port"], "GET", path, None, headers, timeout)


def gkey(inst):
    return {"x-goog-api-key": inst.state["gemini_api_key"]}


def okey(inst):
    return {"Authorization": "Bearer " + inst.state["openai_api_key"]}


def sse_data(body):
    """The data of each SSE event (\\n or \\r\\n line ends)."""
    out = []
    for ev in body.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        data = [ln[5:].lstrip(" ") for ln in ev.split("\n") if ln.startswith("data:")]
        if data:
            out.append("\n".join(data))
    return out


def split_inside_char(chunks):
    """Does a write end inside a multi-byte UTF-8 character?"""
    return any(c and 0x80 <= c[0] < 0xC0 for c in chunks[1:])


def split_inside_line(chunks, sep=b"\n"):
    return any(c and not c.endswith(sep) and not c.endswith(b"\r") for c in chunks[:-1])


def cosine(a, b):
    return 1 - sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


RAG_PROMPT = """Context:
[1] proxmox-gpu.md > GPU passthrough (distance 0.21)
Proxmox VE can pass the Intel iGPU of a node through to one VM. Enable IOMMU in the firmware and on the kernel
command line, bind the device to vfio-pci, and add it as hostpci0 with pcie=1. The host loses the device while
the VM runs, so the console and any transcoding on the host stop working.

[2] k8s-upgrade.md > Upgrading the control plane (distance 0.48)
Upgrade kubeadm on the control-plane node first and run kubeadm upgrade plan. Then apply the upgrade, drain the
node, upgrade kubelet and kubectl, restart the kubelet and uncordon it. Workers follow one at a time.

Question: how do I pass the iGPU through to a VM?"""


# --------------------------------------------------------------------------
# checks


def llm_files(a, check):
    s = a.state
    ok = all(s.get(b, {}).get("url", "").startswith("http://127.0.0.1:%d" % s[b]["port"])
             for b in ("ollama", "gemini", "openai"))
    check("state.json: ollama, gemini, openai with plain-HTTP loopback url and port",
          ok and s["openai"]["url"].endswith("/v1"), {b: s.get(b) for b in ("ollama", "gemini", "openai")})
    with open(a.p("labdeck.ini")) as f:
        ini = f.read().splitlines()
    want = ["[ollama]", "url = " + s["ollama"]["url"], "[gemini]", "url = " + s["gemini"]["url"],
            "api_key_file = " + a.p("gemini-key"), "model = gemini-2.5-pro", "[openai]",
            "url = " + s["openai"]["url"], "model = local", "api_key_file = " + a.p("openai-key")]
    check("labdeck.ini: [ollama] url, [gemini] url/api_key_file/model, [openai] url/model/api_key_file",
          all(w in ini for w in want), [w for w in want if w not in ini])
    good = True
    for name, key in (("gemini-key", s["gemini_api_key"]), ("openai-key", s["openai_api_key"])):
        with open(a.p(name)) as f:
            good = good and f.read() == key + "\n" and stat.S_IMODE(os.stat(a.p(name)).st_mode) == 0o600
    check("gemini-key and openai-key hold the keys, mode 0600", good and s["gemini_api_key"].startswith("AIza")
          and len(s["gemini_api_key"]) == 39)


def ollama_checks(a, check):
    r = get(a, "ollama", "/")
    check("ollama GET /: 'Ollama is running'", r.status == 200 and r.body == b"Ollama is running")
    r = get(a, "ollama", "/api/version")
    check("ollama /api/version", r.status == 200 and r.json()["version"].count(".") == 2, r.body)
    r = get(a, "ollama", "/api/tags")
    tags = {m["name"]: m for m in r.json()["models"]}
    check("ollama /api/tags: bge-m3, exaone3.5:7.8b, qwen2.5:14b with sizes and details",
          set(tags) == {"bge-m3:latest", "exaone3.5:7.8b", "qwen2.5:14b"}
          and tags["qwen2.5:14b"]["details"]["parameter_size"] == "14.8B"
          and tags["bge-m3:latest"]["details"]["family"] == "bert"
          and all(m["size"] > 10 ** 9 and len(m["digest"]) == 64 and m["modified_at"] for m in tags.values())
          and r.headers.get("content-type") == "application/json; charset=utf-8", r.body[:300])
    r = get(a, "ollama", "/api/ps")
    ps = {m["name"]: m for m in r.json()["models"]}
    check("ollama /api/ps: qwen2.5:14b and bge-m3 loaded (size, size_vram, expires_at, context_length)",
          set(ps) == {"qwen2.5:14b", "bge-m3:latest"}
          and all(0 < m["size_vram"] <= m["size"] and m["expires_at"] and m["context_length"] > 0
                  for m in ps.values()) and ps["qwen2.5:14b"]["size_vram"] < ps["qwen2.5:14b"]["size"], ps)

    q = "How do I pass the iGPU through to a VM? 한국어로도"
    body = {"model": "qwen2.5:14b", "messages": [{"role": "user", "content": q}], "options": {"num_ctx": 16384}}
    r = post(a, "ollama", "/api/chat", body)
    lines = [json.loads(x) for x in r.body.decode("utf-8").splitlines()]
    text = "".join(x["message"]["content"] for x in lines)
    last = lines[-1]
    check("ollama /api/chat streams NDJSON by default: chunked application/x-ndjson, done:true last with counts",
          r.status == 200 and r.headers.get("content-type") == "application/x-ndjson" and r.terminated
          and len(lines) >= 8 and not any(x["done"] for x in lines[:-1]) and last["done"] is True
          and last["done_reason"] == "stop" and last["prompt_eval_count"] > 0 and last["eval_count"] > 20
          and all(last[k] > 0 for k in ("total_duration", "load_duration", "prompt_eval_duration",
                                          "eval_duration")), r.body[-400:])
    check("ollama /api/chat: the answer echoes the question (labsim-<model> answers: ... 요약: ...)",
          text.startswith("labsim-qwen2.5:14b answers:") and "igpu" in text and "요약:" in text, text)
    check("ollama /api/chat: lines split across writes, a Hangul character split between writes",
          split_inside_line(r.chunks) and split_inside_char(r.chunks), [c[:20] for c in r.chunks[:12]])
    check("ollama /api/chat: the default stream is quick and comes in several reads",
          r.elapsed < 1.0 and len(r.reads) >= 5, (r.elapsed, len(r.reads)))
    r2 = post(a, "ollama", "/api/chat", dict(body, stream=False))
    one = r2.json()
    check("ollama /api/chat stream:false: one object, the same text and counts",
          r2.status == 200 and one["message"]["content"] == text and one["done"] is True
          and one["eval_count"] == last["eval_count"] and one["prompt_eval_count"] == last["prompt_eval_count"]
          and r2.headers.get("content-type") == "application/json; charset=utf-8", one)
    st, d = a.admin("GET", "/requests?backend=ollama")
    chats = [json.loads(x["body"]) for x in d["requests"] if x["path"] == "/api/chat"]
    ps = {m["name"]: m for m in get(a, "ollama", "/api/ps").json()["models"]}
    check("ollama: options.num_ctx is recorded, and /api/ps shows the context it was loaded with",
          chats and chats[-1]["options"]["num_ctx"] == 16384 and ps["qwen2.5:14b"]["context_length"] == 16384,
          (chats[-1:], ps.get("qwen2.5:14b")))
    r = post(a, "ollama", "/api/chat", dict(body, think=True))
    lines = [json.loads(x) for x in r.body.decode("utf-8").splitlines()]
    kinds = ["t" if x["message"].get("thinking") else ("c" if x["message"]["content"] else "-") for x in lines]
    check("ollama think:true: message.thinking chunks (content empty) before the content",
          "t" in kinds and "c" in kinds and kinds.index("c") > max(i for i, k in enumerate(kinds) if k == "t"),
          kinds)
    r = post(a, "ollama", "/api/chat", {"model": "llama9", "messages": [{"role": "user", "content": "hi"}]})
    check("ollama unknown model: 404 {\"error\":\"model 'llama9' not found\"}",
          r.status == 404 and r.json() == {"error": "model 'llama9' not found"}, (r.status, r.body))
    r = post(a, "ollama", "/api/chat", {"model": "bge-m3", "messages": [{"role": "user", "content": "hi"}]})
    check("ollama chat with the embedding model: 400 does not support chat",
          r.status == 400 and r.json()["error"] == '"bge-m3" does not support chat', r.body)
    r = post(a, "ollama", "/api/chat", dict(body, stream=False, options={"num_ctx": 8192, "num_predict": 7}))
    check("ollama options.num_predict: the answer stops there, done_reason length",
          r.json()["done_reason"] == "length" and r.json()["eval_count"] == 7, r.body)
    long_ctx = RAG_PROMPT.replace("Question:", ("Filler words about nothing much. " * 80) + "\n\nQuestion:")
    full = post(a, "ollama", "/api/chat", {"model": "qwen2.5:14b", "stream": False, "options": {"num_ctx": 8192},
                                           "messages": [{"role": "user", "content": long_ctx}]}).json()
    cut = post(a, "ollama", "/api/chat", {"model": "qwen2.5:14b", "stream": False, "options": {"num_ctx": 512},
                                          "messages": [{"role": "user", "content": long_ctx}]}).json()
    check("ollama num_ctx: a prompt longer than num_ctx loses its start (the context titles go unseen)",
          "proxmox-gpu.md" in full["message"]["content"] and "proxmox-gpu.md" not in cut["message"]["content"]
          and cut["prompt_eval_count"] == 512 and full["prompt_eval_count"] > 512,
          (full["prompt_eval_count"], cut["message"]["content"]))
    summ = post(a, "ollama", "/api/chat", {
        "model": "exaone3.5:7.8b", "stream": False, "options": {"num_ctx": 8192},
        "messages": [{"role": "system", "content": "Condense the context toward the question."},
                     {"role": "user", "content": RAG_PROMPT}]}).json()
    c = summ["message"]["content"]
    check("ollama exaone3.5 condenses: title lines kept, the first sentence of each chunk, far shorter",
          c.splitlines()[0].startswith("[1] proxmox-gpu.md") and "[2] k8s-upgrade.md" in c
          and "Enable IOMMU" not in c and summ["eval_count"] * 2 < summ["prompt_eval_count"], c)

    r = post(a, "ollama", "/api/embed", {"model": "bge-m3", "input": "how do I pass the iGPU through"})
    d = r.json()
    v = d["embeddings"][0]
    check("ollama /api/embed (string): {model, embeddings:[[1024 floats]], prompt_eval_count}, normalised",
          r.status == 200 and d["model"] == "bge-m3" and len(d["embeddings"]) == 1 and len(v) == 1024
          and abs(sum(x * x for x in v) - 1) < 1e-4 and d["prompt_eval_count"] > 0, str(d)[:300])
    docs = ["Proxmox iGPU passthrough: pass the Intel GPU through to a VM with vfio-pci and hostpci0.",
            "Upgrading Kubernetes with kubeadm: drain each node, upgrade the kubelet, uncordon.",
            "Ollama models: qwen2.5 14b for chat, exaone for summaries, bge-m3 for embeddings."]
    r2 = post(a, "ollama", "/api/embed", {"model": "bge-m3", "input": docs})
    vs = r2.json()["embeddings"]
    dist = [cosine(v, x) for x in vs]
    check("ollama /api/embed (list): one vector per text; the related text is the nearest",
          len(vs) == 3 and dist[0] == min(dist) and dist[0] < 0.8 and min(dist[1:]) > 0.9, dist)
    r3 = post(a, "ollama", "/api/embed", {"model": "bge-m3:latest", "input": ["how do I pass the iGPU through"]})
    check("ollama /api/embed is deterministic (same text, same vector, any form of the name)",
          r3.json()["embeddings"][0] == v)
    r = post(a, "ollama", "/api/embed", {"model": "nomic-embed-text", "input": "x"})
    check("ollama /api/embed unknown model: 404 model \"x\" not found, try pulling it first",
          r.status == 404 and r.json()["error"] == 'model "nomic-embed-text" not found, try pulling it first',
          r.body)
    r = post(a, "ollama", "/api/embeddings", {"model": "bge-m3", "prompt": "how do I pass the iGPU through"})
    check("ollama legacy /api/embeddings: {\"embedding\":[...]} the same vector",
          r.status == 200 and r.json()["embedding"] == v)
    r = post(a, "ollama", "/api/show", {"model": "bge-m3"})
    check("ollama /api/show: capabilities and embedding length",
          r.json()["capabilities"] == ["embedding"] and r.json()["model_info"]["bert.embedding_length"] == 1024)


def gemini_checks(a, check):
    g = "/v1beta/models/gemini-2.5-pro"
    body = {"systemInstruction": {"parts": [{"text": "You are the lab's assistant. Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "What is the state of pve-b? 상태 요약"}]}],
            "generationConfig": {"temperature": 0.3, "thinkingConfig": {"thinkingBudget": 128}}}
    r = post(a, "gemini", g + ":streamGenerateContent?alt=sse", body, gkey(a))
    evs = [json.loads(x) for x in sse_data(r.body)]
    texts = "".join(p["text"] for e in evs for c in e.get("candidates", []) for p in c["content"]["parts"])
    usage = [e["usageMetadata"] for e in evs]
    last = evs[-1]
    u = usage[-1]
    check("gemini streamGenerateContent?alt=sse: text/event-stream, data: events ending \\r\\n\\r\\n, no [DONE]",
          r.status == 200 and r.headers.get("content-type") == "text/event-stream" and len(evs) >= 5
          and r.body.endswith(b"}\r\n\r\n") and b"[DONE]" not in r.body and r.body.startswith(b"data: {"),
          r.body[:200])
    check("gemini stream: the JSON looks like Google's (\": \" after keys, no space after commas)",
          b'{"candidates": [{"content": {"parts": [{"text": ' in r.body and b'}],"role": "model"}' in r.body)
    check("gemini stream: finishReason STOP on the last event only, usageMetadata cumulative",
          last["candidates"][0].get("finishReason") == "STOP"
          and not any("finishReason" in e["candidates"][0] for e in evs[:-1])
          and [x.get("candidatesTokenCount", 0) for x in usage] == sorted(x.get("candidatesTokenCount", 0)
                                                                             for x in usage)
          and u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"] + u["thoughtsTokenCount"]
          and 0 < u["thoughtsTokenCount"] <= 128 and last["modelVersion"] == "gemini-2.5-pro", u)
    check("gemini stream: events split across writes, Hangul split between writes",
          split_inside_line(r.chunks, b"\r\n\r\n") and split_inside_char(r.chunks), [c[:16] for c in r.chunks[:10]])
    r2 = post(a, "gemini", g + ":generateContent", body, gkey(a))
    one = r2.json()
    check("gemini generateContent: one pretty-printed answer, the same text and final usage",
          r2.status == 200 and one["candidates"][0]["content"]["parts"][0]["text"] == texts
          and one["usageMetadata"] == u and r2.body.startswith(b"{\n  \"candidates\": [")
          and texts.startswith("labsim-gemini-2.5-pro answers:") and "Following the system prompt" in texts,
          r2.body[:300])
    r = post(a, "gemini", g + ":countTokens", {"contents": body["contents"]}, gkey(a))
    r3 = post(a, "gemini", g + ":countTokens", {"generateContentRequest": dict(body, model="models/gemini-2.5-pro")},
              gkey(a))
    check("gemini countTokens: totalTokens (with systemInstruction through generateContentRequest)",
          r.json()["totalTokens"] < r3.json()["totalTokens"] == u["promptTokenCount"], (r.body, r3.body))
    direct = post(a, "gemini", g + ":generateContent",
                  {"contents": [{"role": "user", "parts": [{"text": RAG_PROMPT}]}]}, gkey(a)).json()
    short = post(a, "gemini", g + ":generateContent",
                 {"contents": [{"role": "user", "parts": [{"text": "Context:\n[1] proxmox-gpu.md\nProxmox VE can "
                                                           "pass the iGPU through.\n\nQuestion: how do I pass the "
                                                           "iGPU through to a VM?"}]}]}, gkey(a)).json()
    dt = direct["candidates"][0]["content"]["parts"][0]["text"]
    check("gemini RAG: the answer names the documents it saw; a shorter context costs fewer prompt tokens",
          "proxmox-gpu.md > GPU passthrough" in dt and "k8s-upgrade.md" in dt
          and short["usageMetadata"]["promptTokenCount"] < direct["usageMetadata"]["promptTokenCount"],
          (dt, short["usageMetadata"], direct["usageMetadata"]))
    r = post(a, "gemini", g + ":streamGenerateContent", body, gkey(a))
    arr = json.loads(r.body)
    check("gemini streamGenerateContent without alt=sse: one JSON array (objects split across writes)",
          r.status == 200 and isinstance(arr, list) and len(arr) >= 5 and b"\n,\r\n{" in r.body, r.body[:100])
    r = post(a, "gemini", g + ":streamGenerateContent?alt=sse&key=" + a.state["gemini_api_key"], body, gkey(a))
    check("gemini refuses a key in the URL (400), so a test proves the client never puts it there",
          r.status == 400 and "x-goog-api-key" in r.json()["error"]["message"], r.body)
    r = post(a, "gemini", g + ":generateContent", body)
    check("gemini without a key: 403 PERMISSION_DENIED (unregistered callers)",
          r.status == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED", r.body)
    r = post(a, "gemini", g + ":generateContent", body, {"x-goog-api-key": "AIzaWRONG"})
    e = r.json()["error"]
    check("gemini wrong key: 400 INVALID_ARGUMENT with ErrorInfo API_KEY_INVALID (key not echoed)",
          r.status == 400 and e["status"] == "INVALID_ARGUMENT" and e["details"][0]["reason"] == "API_KEY_INVALID"
          and b"AIzaWRONG" not in r.body, r.body)
    r = post(a, "gemini", "/v1beta/models/gemini-9-ultra:streamGenerateContent?alt=sse", body, gkey(a))
    check("gemini unknown model: 404 NOT_FOUND with the API's message",
          r.status == 404 and r.json()["error"]["status"] == "NOT_FOUND"
          and r.json()["error"]["message"].startswith("models/gemini-9-ultra is not found"), r.body)
    r = post(a, "gemini", g + ":generateContent", {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
             gkey(a))
    r2 = post(a, "gemini", g + ":generateContent", {"messages": [{"role": "user", "content": "x"}]}, gkey(a))
    check("gemini bad requests: role 'assistant' and an unknown field are 400 with Google's messages",
          r.status == 400 and r.json()["error"]["message"] == "Please use a valid role: user, model."
          and r2.status == 400 and 'Unknown name "messages"' in r2.json()["error"]["message"], (r.body, r2.body))

    def one_shot(text, **gc):
        b = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        if gc:
            b["generationConfig"] = gc
        rr = post(a, "gemini", g + ":streamGenerateContent?alt=sse", b, gkey(a))
        return [json.loads(x) for x in sse_data(rr.body)]

    ev = one_shot("is this unsafe?")
    c = ev[-1]["candidates"][0]
    check("gemini 'unsafe' in the prompt: finishReason SAFETY, no text, a blocked safety rating",
          len(ev) == 1 and c["finishReason"] == "SAFETY" and "content" not in c
          and any(x.get("blocked") for x in c["safetyRatings"]), ev)
    ev = one_shot("please blockme now")
    check("gemini 'blockme': promptFeedback.blockReason SAFETY and no candidates (HTTP 200)",
          len(ev) == 1 and ev[0]["promptFeedback"]["blockReason"] == "SAFETY" and "candidates" not in ev[0], ev)
    ev = one_shot("recite the poem")
    check("gemini 'recite': some text, then finishReason RECITATION without content",
          len(ev) >= 2 and ev[-1]["candidates"][0]["finishReason"] == "RECITATION"
          and "content" not in ev[-1]["candidates"][0] and "content" in ev[0]["candidates"][0], ev[-1])
    ev = one_shot("tell me about proxmox", maxOutputTokens=100)
    u = ev[-1]["usageMetadata"]
    check("gemini maxOutputTokens: the answer stops with MAX_TOKENS (thinking counts against it)",
          ev[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
          and u["candidatesTokenCount"] + u["thoughtsTokenCount"] == 100, u)
    r = post(a, "gemini", g + ":generateContent",
             dict(body, generationConfig={"thinkingConfig": {"thinkingBudget": 0}}), gkey(a))
    check("gemini 2.5 Pro with thinkingBudget 0: 400 'only works in thinking mode'",
          r.status == 400 and "only works in thinking mode" in r.json()["error"]["message"], r.body)
    ev = one_shot("why is the sky blue", thinkingConfig={"includeThoughts": True})
    thought = [p for e in ev for p in e["candidates"][0]["content"]["parts"] if p.get("thought")]
    check("gemini includeThoughts: thought parts (thought: true) before the answer",
          thought and ev[0]["candidates"][0]["content"]["parts"][0].get("thought") is True, ev[0])
    r = get(a, "gemini", "/v1beta/models", gkey(a))
    r2 = get(a, "gemini", "/v1beta/models/gemini-2.5-flash", gkey(a))
    check("gemini GET /v1beta/models lists models/gemini-2.5-pro; GET one model",
          "models/gemini-2.5-pro" in [m["name"] for m in r.json()["models"]]
          and r2.json()["name"] == "models/gemini-2.5-flash" and r2.json()["thinking"] is True, r2.body)


def openai_checks(a, check):
    body = {"model": "local", "messages": [{"role": "system", "content": "Answer like a sysadmin."},
                                            {"role": "user", "content": "Why is 백업-서버 stopped?"}],
            "stream": True, "stream_options": {"include_usage": True}}
    r = post(a, "openai", "/v1/chat/completions", body, okey(a))
    data = sse_data(r.body)
    chunks = [json.loads(x) for x in data[:-1]]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    usage = [c["usage"] for c in chunks if c.get("usage")]
    check("openai /v1/chat/completions stream: SSE data: chunks, role first, finish chunk, usage, data: [DONE]",
          r.status == 200 and r.headers.get("content-type") == "text/event-stream" and data[-1] == "[DONE]"
          and chunks[0]["choices"][0]["delta"].get("role") == "assistant"
          and chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["choices"] == []
          and usage and usage[0]["total_tokens"] == usage[0]["prompt_tokens"] + usage[0]["completion_tokens"]
          and all(c["object"] == "chat.completion.chunk" for c in chunks), data[-3:])
    check("openai stream: chunks split across writes, Hangul split between writes",
          split_inside_line(r.chunks, b"\n\n") and split_inside_char(r.chunks))
    r2 = post(a, "openai", "/v1/chat/completions", dict(body, stream=False), okey(a))
    d = r2.json()
    check("openai stream false: one chat.completion with the same text and usage",
          d["object"] == "chat.completion" and d["choices"][0]["message"]["content"] == text
          and d["usage"] == usage[0] and text.startswith("labsim-local answers:"), d)
    r = post(a, "openai", "/v1/chat/completions", body)
    r2 = post(a, "openai", "/v1/chat/completions", body, {"Authorization": "Bearer sk-wrong"})
    check("openai: the configured Bearer key is required (401 otherwise)",
          r.status == 401 and r2.status == 401 and r.json()["error"]["type"] == "authentication_error", r.body)
    r = get(a, "openai", "/v1/models", okey(a))
    r2 = get(a, "openai", "/health")
    check("openai GET /v1/models lists 'local'; GET /health needs no key",
          [m["id"] for m in r.json()["data"]] == ["local"] and r2.json() == {"status": "ok"}, r.body)
    r = post(a, "openai", "/v1/chat/completions", dict(body, model="gpt-9"), okey(a))
    check("openai unknown model: 404 with an error object", r.status == 404 and "gpt-9" in r.json()["error"]["message"])


def record_checks(a, check):
    st, d = a.admin("GET", "/requests")
    by = {}
    for x in d["requests"]:
        by.setdefault(x["backend"], []).append(x)
    gem = by.get("gemini", [])
    check("admin /requests records the model services as ollama, gemini, openai",
          all(by.get(b) for b in ("ollama", "gemini", "openai")), sorted(by))
    check("record: the Gemini key shows in the x-goog-api-key header, the URL keeps what was sent",
          any(x["headers"].get("x-goog-api-key") == a.state["gemini_api_key"] for x in gem)
          and any("key=" in x["path"] and x["status"] == 400 for x in gem), [x["path"] for x in gem][:5])


def llm_fault_checks(a, check):
    a.admin("DELETE", "/faults")
    chat = {"model": "qwen2.5:14b", "messages": [{"role": "user", "content": "tell me about the 모델 server"}],
            "options": {"num_ctx": 8192}}
    # midstream_error, Ollama: an {"error":...} line under the 200, then a clean end
    fid = a.fault(backend="ollama", kind="midstream_error", count=1)
    r = post(a, "ollama", "/api/chat", dict(chat, stream=False))
    st, d = a.admin("GET", "/faults")
    left = [f for f in d["faults"] if f["id"] == fid][0]["count"]
    r = post(a, "ollama", "/api/chat", chat)
    lines = [json.loads(x) for x in r.body.decode("utf-8").splitlines()]
    check("fault midstream_error (ollama): a non-streaming request leaves the rule alone", left == 1, d)
    check("fault midstream_error (ollama): 200, some lines, then {\"error\":\"an error was encountered ...\"}",
          r.status == 200 and r.terminated and len(lines) == 4 and lines[-1] == {
              "error": "an error was encountered while running the model"} and not any(x.get("done") for x in
                                                                                         lines[:-1]), lines)
    a.fault(backend="gemini", kind="midstream_error", count=1, after=2, code=503)
    r = post(a, "gemini", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
             {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}, gkey(a))
    evs = [json.loads(x) for x in sse_data(r.body)]
    check("fault midstream_error (gemini): after=2 events, an SSE event {\"error\":{code 503, UNAVAILABLE}}",
          r.status == 200 and len(evs) == 3 and evs[-1]["error"]["status"] == "UNAVAILABLE"
          and evs[-1]["error"]["code"] == 503 and "candidates" in evs[0], evs[-1])
    a.fault(backend="openai", kind="midstream_error", count=1)
    r = post(a, "openai", "/v1/chat/completions", {"model": "local", "stream": True,
                                                  "messages": [{"role": "user", "content": "hi"}]}, okey(a))
    data = sse_data(r.body)
    check("fault midstream_error (openai): data: {\"error\":...} and no [DONE]",
          r.status == 200 and "error" in json.loads(data[-1]) and "[DONE]" not in data, data[-2:])
    # truncated_stream: mid-event, then the connection closes without the last chunk
    a.fault(backend="ollama", kind="truncated_stream", count=1)
    r = post(a, "ollama", "/api/chat", chat)
    check("fault truncated_stream (ollama): whole lines, then half a line, closed without the end chunk",
          r.status == 200 and not r.terminated and not r.body.endswith(b"\n") and r.body.count(b"\n") == 2,
          r.body[-120:])
    a.fault(backend="gemini", kind="truncated_stream", count=1, clean=1)
    r = post(a, "gemini", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
             {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}, gkey(a))
    check("fault truncated_stream clean=1 (gemini): a clean HTTP end after half an event, no finishReason",
          r.terminated and not r.body.endswith(b"\r\n\r\n") and b"finishReason" not in r.body, r.body[-100:])
    # stall: a few events, then nothing
    a.fault(backend="openai", kind="stall", seconds=2, count=1)
    r = Raw(a.state["openai"]["port"], "POST", "/v1/chat/completions",
            {"model": "local", "stream": True, "messages": [{"role": "user", "content": "hi"}]}, okey(a), timeout=1.0)
    check("fault stall (openai stream): the first events, then silence",
          r.status == 200 and r.timed_out and len(sse_data(r.body)) == 2, (r.timed_out, r.body[-100:]))
    # status: the providers' own error bodies
    a.fault(backend="gemini", kind="status", code=429, count=1)
    r = post(a, "gemini", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
             {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}, gkey(a))
    e = r.json()["error"]
    ri = [x for x in e.get("details", []) if x["@type"].endswith("RetryInfo")]
    qf = [x for x in e.get("details", []) if x["@type"].endswith("QuotaFailure")]
    check("fault status 429 (gemini): RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo retryDelay 7s",
          r.status == 429 and e["status"] == "RESOURCE_EXHAUSTED" and ri and ri[0]["retryDelay"] == "7s"
          and qf and "PerMinute" in qf[0]["violations"][0]["quotaId"], r.body)
    a.fault(backend="ollama", kind="status", code=429, retry_after=3, count=1)
    r = post(a, "ollama", "/api/chat", chat)
    check("fault status 429 (ollama): Retry-After and {\"error\":...}",
          r.status == 429 and r.headers.get("retry-after") == "3" and "error" in r.json(), r.body)
    a.fault(backend="openai", kind="status", code=503, count=1)
    r = post(a, "openai", "/v1/chat/completions", {"model": "local", "messages": [{"role": "user", "content": "x"}]},
             okey(a))
    check("fault status 503 (openai): an OpenAI error object",
          r.status == 503 and r.json()["error"]["type"] == "unavailable_error", r.body)
    # latency: time to the first byte
    a.fault(backend="ollama", kind="latency", ms=300, count=1)
    r = post(a, "ollama", "/api/chat", chat)
    check("fault latency (ollama): the first byte after 300 ms, then the stream as usual",
          r.first_byte >= 0.3 and r.body.rstrip().endswith(b"}") and r.terminated, r.first_byte)
    # the generic kinds reach these backends too
    a.fault(backend="ollama", kind="malformed", count=1)
    r = get(a, "ollama", "/api/tags")
    try:
        json.loads(r.body)
        bad = False
    except ValueError:
        bad = True
    check("fault malformed (ollama): 200 JSON content type, not JSON", r.status == 200 and bad)
    a.fault(backend="ollama", kind="big", mb=1, count=1)
    r = get(a, "ollama", "/api/tags")
    check("fault big (ollama): a valid 1 MB JSON body, chunked",
          r.status == 200 and len(r.body) >= 1024 * 1024 and len(r.json()["models"]) > 100 and r.terminated,
          len(r.body))
    a.fault(backend="openai", kind="slow401", seconds=1, count=1)
    t = time.time()
    r = get(a, "openai", "/v1/models", {"Authorization": "Bearer sk-wrong"})
    check("fault slow401 (openai): the 401 of a wrong key comes after 1 s", r.status == 401 and time.time() - t >= 0.95)
    a.fault(backend="openai", kind="reset", count=1)
    r = get(a, "openai", "/v1/models", okey(a))
    check("fault reset (openai): no answer", r.status is None, r.reads[:1])
    a.fault(backend="gemini", kind="truncated", count=1)
    r = post(a, "gemini", "/v1beta/models/gemini-2.5-pro:generateContent",
             {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}, gkey(a))
    check("fault truncated (gemini unary): Content-Length announced, half sent",
          r.status == 200 and len(r.body) == int(r.headers["content-length"]) // 2, len(r.body))
    st, d = a.admin("POST", "/outage", {"backend": "ollama", "down": True})
    try:
        socket.create_connection(("127.0.0.1", a.state["ollama"]["port"]), timeout=2).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    a.admin("POST", "/outage", {"backend": "ollama", "down": False})
    check("outage: ollama down refuses connections, then answers again",
          st == 200 and refused and get(a, "ollama", "/api/version").status == 200, d)
    a.admin("DELETE", "/faults")
