"""Integration tests of `labdeck chat` against labsim's Ollama, Gemini and OpenAI-compatible
servers: streaming, the --json shape, token counts, what each provider is sent (the Gemini key
only in its header, num_ctx always sent to Ollama), errors with the API's own words and the exit
statuses of SPEC.md §3, Ctrl-C."""
import json
import os
import re
import select
import signal
import subprocess
import time

import itest
from itest import check, run, sanitizer_clean, test

PROVIDERS = {  # provider -> the model labsim's config names
    "ollama": "qwen2.5:14b",
    "gemini": "gemini-2.5-pro",
    "openai": "local",
}
QUESTION = "Which GPU does the inference VM on pve-b use?"


def chat(lab, *args, config=None, **kw):
    r = run("chat", *args, config=config or lab.config, **kw)
    sanitizer_clean(r)
    return r


def header(req, name):
    for k, v in req.get("headers", {}).items():
        if k.lower() == name.lower():
            return v
    return None


def chat_bodies(lab, backend):
    """The JSON bodies of the chat requests labsim recorded for backend."""
    out = []
    for r in lab.requests(backend):
        if r["method"] == "POST" and ("/api/chat" in r["path"] or "Generate" in r["path"]
                                      or "/chat/completions" in r["path"]):
            out.append(json.loads(r["body"]))
    return out


def config_with(lab, section, extra, drop_section=None):
    """labsim's config with lines added at the top of [section] (and a section removed)."""
    text = open(lab.config).read()
    if drop_section:
        text = re.sub(r"\[%s\][^\[]*" % re.escape(drop_section), "", text)
    if section:
        text = text.replace("[%s]\n" % section, "[%s]\n%s\n" % (section, extra), 1)
    return lab.write_config(text)


def fault(lab, backend, kind, **params):
    lab.clear()
    lab.fault(backend, kind, count=1, **params)


# --- the answer, per provider ----------------------------------------------------------------

@test
def chat_streamed_text_equals_json_text(lab):
    for provider, model in PROVIDERS.items():
        streamed = chat(lab, "--provider", provider, QUESTION)
        check(streamed.code == 0, provider + ": exit 0", streamed)
        check(streamed.err == "", provider + ": nothing on stderr", streamed)
        r = chat(lab, "--provider", provider, "--json", QUESTION)
        check(r.code == 0, provider + ": --json exit 0", r)
        doc = r.json()
        for key in ("provider", "model", "text", "usage", "sources", "cloud_tokens",
                    "local_tokens"):
            check(key in doc, "%s: key %s" % (provider, key), r)
        check(doc["provider"] == provider and doc["model"] == model, provider + ": names", doc)
        text = doc["text"]
        check(text.startswith("labsim-%s answers:" % model), provider + ": the model answered",
              doc)
        check("gpu" in text and "pve" in text, provider + ": about the question", doc)
        # The stream is the answer, with a final newline since the text has none.
        check(streamed.out == text + "\n", provider + ": streamed text == --json text",
              (streamed.out, text))
        check(doc["sources"] == [], provider + ": no sources without --rag", doc)
        u = doc["usage"]
        check(isinstance(u["prompt_tokens"], int) and u["prompt_tokens"] > 0,
              provider + ": prompt tokens", doc)
        check(isinstance(u["completion_tokens"], int) and u["completion_tokens"] > 0,
              provider + ": completion tokens", doc)
        total = u["prompt_tokens"] + u["completion_tokens"]
        if provider == "gemini":
            check(doc["cloud_tokens"] == total and doc["local_tokens"] == 0,
                  "gemini tokens are cloud tokens", doc)
        else:
            check(doc["local_tokens"] == total and doc["cloud_tokens"] == 0,
                  provider + " tokens are local tokens", doc)
        sanitizer_clean(r)


@test
def chat_gemini_thinking_billed_as_output(lab):
    # gemini-2.5-pro always thinks; its thought tokens are billed as output.
    r = chat(lab, "--provider", "gemini", "--json", QUESTION)
    check(r.code == 0, "exit 0", r)
    u = r.json()["usage"]
    check(u["thinking_tokens"] > 0, "thinking tokens reported", u)
    check(u["completion_tokens"] > u["thinking_tokens"], "completion includes thinking", u)


@test
def chat_streams_as_tokens_arrive(lab):
    # 150 ms between writes: the first words are on stdout long before the answer ends.
    cmd = [itest.LABDECK, "--config", lab.config, "chat", "stream please labsim:chunk_ms=150"]
    env = dict(os.environ, LC_ALL="C.UTF-8")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 10)
        check(ready, "some text within 10 s")
        first = os.read(p.stdout.fileno(), 65536)
        check(first.startswith(b"labsim-"), "the answer's first words", first)
        check(p.poll() is None, "still running when the first words came")
        rest, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    check(p.returncode == 0, "exit 0", err)
    check((first + rest).decode().rstrip("\n").endswith("word for word."), "the whole answer",
          first + rest)


@test
def chat_message_from_stdin(lab):
    lab.clear()
    message = "What about 백업-서버 and its disks?"
    r = chat(lab, "-", stdin=message + "\n")
    check(r.code == 0, "exit 0", r)
    sent = chat_bodies(lab, "ollama")
    check(len(sent) == 1, "one request", sent)
    # The line end from stdin is not part of the message.
    check(sent[0]["messages"][-1] == {"role": "user", "content": message}, "message sent", sent)
    same = chat(lab, message)
    check(same.out == r.out, "same answer as the message given as an argument", (r, same))
    check("백업" in r.out, "Hangul in the answer kept", r)
    empty = chat(lab, "-", stdin="\n")
    check(empty.code == 2 and "empty" in empty.err, "an empty message is a usage error", empty)


@test
def chat_words_without_quotes_are_one_message(lab):
    lab.clear()
    r = chat(lab, "how", "is", "pve-a")
    check(r.code == 0, "exit 0", r)
    sent = chat_bodies(lab, "ollama")
    check(sent[0]["messages"][-1]["content"] == "how is pve-a", "joined", sent)


# --- what each provider is sent --------------------------------------------------------------

@test
def chat_gemini_key_only_in_header(lab):
    lab.clear()
    key = lab.state["gemini_api_key"]
    r = chat(lab, "--provider", "gemini", QUESTION)
    check(r.code == 0, "exit 0", r)
    reqs = [q for q in lab.requests("gemini") if q["method"] == "POST"]
    check(len(reqs) == 1, "one request", reqs)
    q = reqs[0]
    check(q["path"] == "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
          "the streaming endpoint with alt=sse", q["path"])
    check(header(q, "x-goog-api-key") == key, "key in x-goog-api-key", q["headers"].keys())
    for r2 in lab.requests():
        check(key not in r2["path"], "the key in no recorded URL", r2["path"])
    check(key not in q["body"], "nor in the body")
    check(key not in r.out and key not in r.err, "nor in what labdeck printed")
    body = json.loads(q["body"])
    check(body["contents"][-1]["role"] == "user", "Gemini roles", body)
    check(body["contents"][-1]["parts"][0]["text"] == QUESTION, "the question", body)


@test
def chat_ollama_num_ctx_always_sent(lab):
    lab.clear()
    r = chat(lab, QUESTION)
    check(r.code == 0, "exit 0", r)
    body = chat_bodies(lab, "ollama")[0]
    check(body["model"] == "qwen2.5:14b", "the chat_model", body)
    check(body["options"]["num_ctx"] == 8192, "the default num_ctx sent", body)
    cfg = config_with(lab, "ollama", "num_ctx = 16384\nkeep_alive = 10m\ntemperature = 0.2")
    lab.clear()
    r = chat(lab, QUESTION, config=cfg)
    check(r.code == 0, "exit 0", r)
    body = chat_bodies(lab, "ollama")[0]
    check(body["options"]["num_ctx"] == 16384, "the configured num_ctx", body)
    check(abs(body["options"]["temperature"] - 0.2) < 1e-9, "temperature", body)
    check(body["keep_alive"] == "10m", "keep_alive", body)


@test
def chat_openai_bearer_and_usage_asked(lab):
    lab.clear()
    r = chat(lab, "--provider", "openai", QUESTION)
    check(r.code == 0, "exit 0", r)
    reqs = [q for q in lab.requests("openai") if q["method"] == "POST"]
    check(reqs and reqs[0]["path"] == "/v1/chat/completions", "the endpoint", reqs)
    key = open(os.path.join(lab.dir, "openai-key")).read().strip()
    check(header(reqs[0], "authorization") == "Bearer " + key, "Bearer key",
          reqs[0]["headers"].keys())
    body = json.loads(reqs[0]["body"])
    check(body["stream"] is True and body["stream_options"] == {"include_usage": True},
          "streamed with usage", body)


@test
def chat_model_option(lab):
    lab.clear()
    r = chat(lab, "--provider", "gemini", "--model", "gemini-2.0-flash", "--json", QUESTION)
    check(r.code == 0, "exit 0", r)
    check(r.json()["model"] == "gemini-2.0-flash", "model in the answer", r)
    check("gemini-2.0-flash:streamGenerateContent" in lab.requests("gemini")[-1]["path"],
          "model in the URL", lab.requests("gemini")[-1])


# --- errors ----------------------------------------------------------------------------------

@test
def chat_gemini_429_retry_delay(lab):
    fault(lab, "gemini", "status", code=429, retry_delay="7s")
    try:
        r = chat(lab, "--provider", "gemini", QUESTION)
        check(r.code == 3, "exit 3", r)
        check(r.out == "", "nothing on stdout", r)
        lines = r.err.splitlines()
        check(len(lines) == 1, "one line on stderr", r)
        check(lines[0].startswith("labdeck: gemini: 429 "), "provider and status", r)
        check("quota" in lines[0], "the API's own message", r)
        check(lines[0].endswith("retry after 7 s"), "the retry delay the API gave", r)
        posts = [q for q in lab.requests("gemini") if q["method"] == "POST"]
        check(len(posts) == 1, "a chat is never sent twice", posts)
        sanitizer_clean(r)
    finally:
        lab.clear()


@test
def chat_gemini_daily_quota(lab):
    fault(lab, "gemini", "status", code=429, quota="day")
    try:
        r = chat(lab, "--provider", "gemini", QUESTION)
        check(r.code == 3, "exit 3", r)
        check("daily quota" in r.err, "named a daily quota", r)
    finally:
        lab.clear()


def full_answer(lab, provider, question):
    r = chat(lab, "--provider", provider, "--json", question)
    check(r.code == 0, "a whole answer first", r)
    return r.json()["text"]


@test
def chat_midstream_error_keeps_partial_text(lab):
    question = "Tell me about the backup server disks"
    cases = {
        "ollama": ({}, "an error was encountered while running the model"),
        "gemini": ({"bare": 1}, "An internal error has occurred"),
        "openai": ({}, "error in the answer"),
    }
    for provider, (params, words) in cases.items():
        whole = full_answer(lab, provider, question)
        fault(lab, provider, "midstream_error", after=4, **params)
        try:
            r = chat(lab, "--provider", provider, question)
        finally:
            lab.clear()
        check(r.code == 3, provider + ": exit 3", r)
        partial = r.out.rstrip("\n")
        check(partial and whole.startswith(partial) and len(partial) < len(whole),
              provider + ": the partial answer kept on stdout", (r.out, whole))
        check(words in r.err, provider + ": the API's message", r)
        check(len(r.err.splitlines()) == 1, provider + ": one line on stderr", r)
        sanitizer_clean(r)


@test
def chat_truncated_stream(lab):
    for provider, params in (("ollama", {}), ("gemini", {"clean": 1}), ("openai", {})):
        fault(lab, provider, "truncated_stream", after=3, **params)
        try:
            r = chat(lab, "--provider", provider, QUESTION)
        finally:
            lab.clear()
        check(r.code == 3, provider + ": exit 3", r)
        check(r.out.startswith("labsim-"), provider + ": partial text kept", r)
        check("cut short" in r.err, provider + ": says it was cut short", r)


@test
def chat_unknown_model(lab):
    r = chat(lab, "--model", "nosuch:1b", QUESTION)
    check(r.code == 1, "exit 1", r)
    check(r.err.strip().startswith("labdeck: ollama: 404 model 'nosuch:1b' not found")
          and "chat_model" in r.err and len(r.err.strip().splitlines()) == 1,
          "Ollama's own message, then what to do", r)
    r = chat(lab, "--provider", "gemini", "--model", "gemini-9", QUESTION)
    check(r.code == 1, "gemini: exit 1", r)
    check("models/gemini-9 is not found" in r.err, "Gemini's own message", r)
    r = chat(lab, "--provider", "openai", "--model", "nope", QUESTION)
    check(r.code == 1, "openai: exit 1", r)
    check("does not exist" in r.err, "the server's own message", r)


@test
def chat_gemini_refusals(lab):
    r = chat(lab, "--provider", "gemini", "blockme please")
    check(r.code == 1, "blocked prompt: exit 1", r)
    check("the prompt was blocked (SAFETY)" in r.err, "says blocked, and why", r)
    r = chat(lab, "--provider", "gemini", "something unsafe")
    check(r.code == 1, "safety stop: exit 1", r)
    check("SAFETY" in r.err, "names SAFETY", r)
    r = chat(lab, "--provider", "gemini", "recite the poem")
    check(r.code == 1, "recitation: exit 1", r)
    check("RECITATION" in r.err, "names RECITATION", r)
    check(r.out.startswith("labsim-"), "what came before is kept", r)


@test
def chat_long_answer_in_split_writes(lab):
    # labsim cuts every write that holds Hangul right after the character's first byte.
    for provider in PROVIDERS:
        q = QUESTION + " labsim:tokens=3000 labsim:chunk_ms=0"
        streamed = chat(lab, "--provider", provider, q)
        r = chat(lab, "--provider", provider, "--json", q)
        check(streamed.code == 0 and r.code == 0, provider + ": exit 0", (streamed, r))
        doc = r.json()
        check(doc["usage"]["completion_tokens"] == 3000 or provider == "gemini",
              provider + ": 3000 tokens", doc["usage"])
        check("\ufffd" not in streamed.out and "\ufffd" not in doc["text"],
              provider + ": no broken characters", provider)
        check(streamed.out == doc["text"] + ("" if doc["text"].endswith("\n") else "\n"),
              provider + ": streamed == --json text", len(streamed.out))
        check(len(re.findall("[\uac00-\ud7a3]", doc["text"])) > 100, provider + ": Hangul",
              doc["text"][:200])


@test
def chat_auth_errors(lab):
    cfg = config_with(lab, None, None)
    text = open(cfg).read().replace("api_key_file = %s" % os.path.join(lab.dir, "gemini-key"),
                                    "api_key = AIzaWRONGwrongWRONGwrongWRONGwrongWRO")
    bad = lab.write_config(text)
    r = chat(lab, "--provider", "gemini", QUESTION, config=bad)
    check(r.code == 4, "a wrong key: exit 4", r)
    check("API key not valid" in r.err and "api_key in [gemini]" in r.err,
          "says what to fix: the key this config used", r)
    check("AIzaWRONG" not in r.err, "the key is not echoed", r)
    fault(lab, "openai", "status", code=401)
    try:
        r = chat(lab, "--provider", "openai", QUESTION)
    finally:
        lab.clear()
    check(r.code == 4, "openai 401: exit 4", r)


@test
def chat_unconfigured_provider(lab):
    cfg = config_with(lab, None, None, drop_section="gemini")
    r = chat(lab, "--provider", "gemini", QUESTION, config=cfg)
    check(r.code == 2, "exit 2", r)
    check("[gemini]" in r.err and "api_key_env" in r.err, "names the section and key", r)
    check(r.out == "", "nothing on stdout", r)
    cfg = config_with(lab, None, None, drop_section="openai")
    r = chat(lab, "--provider", "openai", QUESTION, config=cfg)
    check(r.code == 2 and "[openai]" in r.err, "openai: exit 2 naming [openai]", r)
    # A [gemini] section whose key variable is not set.
    text = open(lab.config).read().replace(
        "api_key_file = %s" % os.path.join(lab.dir, "gemini-key"),
        "api_key_env = LABDECK_TEST_UNSET_KEY")
    cfg = lab.write_config(text)
    r = chat(lab, "--provider", "gemini", QUESTION, config=cfg, env={"LABDECK_TEST_UNSET_KEY": ""})
    check(r.code == 2, "unset key: exit 2", r)
    check("api_key_env" in r.err, "names api_key_env", r)


@test
def chat_ollama_down(lab):
    text = open(lab.config).read()
    text = re.sub(r"(\[ollama\]\nurl = )\S+", r"\g<1>http://127.0.0.1:9", text)
    cfg = lab.write_config(text)
    r = chat(lab, QUESTION, config=cfg)
    check(r.code == 3, "exit 3", r)
    check("cannot connect" in r.err and "127.0.0.1:9" in r.err, "says where it tried", r)


@test
def chat_stalled_stream_times_out(lab):
    fault(lab, "openai", "stall", seconds=30, after=3)
    try:
        r = chat(lab, "--provider", "openai", "--timeout", "1", QUESTION, timeout=40)
    finally:
        lab.clear()
    check(r.code == 3, "exit 3", r)
    check("stalled" in r.err, "says it stalled", r)
    check(r.out.startswith("labsim-"), "what came is kept", r)
    check(r.elapsed < 20, "well before the server's 30 s", r)


@test
def chat_usage_errors(lab):
    for args, words in ((("--provider", "claude", "hi"), "ollama, gemini or openai"),
                        ((), "MESSAGE"),
                        (("--session", "../etc", "hi"), "--session"),
                        (("--model",), "needs a value"),
                        (("--bogus", "hi"), "unknown option")):
        r = chat(lab, *args)
        check(r.code == 2, "exit 2 for %r" % (args,), r)
        check(words in r.err, "says why for %r" % (args,), r)
        check(r.out == "", "nothing on stdout", r)
    # Accepted (their effect comes with sessions, the cache and RAG).
    r = chat(lab, "--session", "lab-notes", "--no-cache", QUESTION)
    check(r.code == 0, "--session and --no-cache accepted", r)


@test
def chat_global_options_after_command(lab):
    r = run("chat", "--json", "--config", lab.config, "--provider", "openai", QUESTION)
    check(r.code == 0, "exit 0", r)
    check(r.json()["provider"] == "openai", "options on both sides of the command", r)


# --- Ctrl-C ----------------------------------------------------------------------------------

@test
def chat_ctrl_c_keeps_text(lab):
    for extra in ((), ("--json",)):
        cmd = [itest.LABDECK, "--config", lab.config, "chat", *extra,
               "slowly please labsim:chunk_ms=300"]
        env = dict(os.environ, LC_ALL="C.UTF-8")
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            if not extra:
                ready, _, _ = select.select([p.stdout], [], [], 10)
                check(ready, "text before Ctrl-C")
                first = os.read(p.stdout.fileno(), 65536)
            else:
                # Nothing is streamed with --json: wait until labsim has started answering.
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not any(
                        q["path"] == "/api/chat" for q in lab.requests("ollama")):
                    time.sleep(0.05)
                time.sleep(0.7)
                first = b""
            p.send_signal(signal.SIGINT)
            rest, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
        check(p.returncode == 130, "exit 130", (p.returncode, err))
        out = (first + rest).decode()
        if not extra:
            check(out.startswith("labsim-") and out.endswith("\n"), "what came is kept", out)
            check("word for word" not in out, "stopped before the end", out)
        else:
            doc = json.loads(out)
            check(doc["cancelled"] is True and doc["text"].startswith("labsim-"),
                  "the partial answer as JSON", doc)
        check(b"Sanitizer" not in err, "clean exit", err)


# --- a terminal gets no control sequences ----------------------------------------------------

HOSTILE = ("Context:\n[1] evil \x1b[31mred\x1b]0;pwned\x07 doc\nThe node runs.\n\n"
           "Question: what runs?")


@test
def chat_terminal_gets_no_control_sequences(lab):
    # labsim repeats the context's titles ("Sources seen: ..."), escape sequences included.
    piped = chat(lab, "-", stdin=HOSTILE)
    check(piped.code == 0, "exit 0", piped)
    # A pipe often ends on a terminal (| less -R, | tee): no escape goes there either; the exact
    # text is in --json.
    check("\x1b" not in piped.out and "?[31mred" in piped.out,
          "into a pipe the escapes go as visible text", piped)
    import pty
    master, slave = pty.openpty()
    env = dict(os.environ, LC_ALL="C.UTF-8")
    p = subprocess.Popen([itest.LABDECK, "--config", lab.config, "chat", HOSTILE],
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                         env=env)
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 10)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # the other end closed (EIO)
                break
            if not data:
                break
            out += data
        p.wait(timeout=10)
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
    check(p.returncode == 0, "exit 0", p.stderr.read())
    text = out.decode("utf-8", "replace")
    check("Sources seen: evil" in text, "the title is shown", text)
    check("\x1b" not in text and "\x07" not in text, "no ESC or BEL on the terminal", text)
    p.stderr.close()
