"""What the simulated model servers (ollama.py, gemini.py, openai_compat.py)
share: the deterministic "model" (answers, condensing, thinking), token
counts, embeddings, and the writer that streams events in split TCP writes.

Everything here is a pure function of its input: the same prompt always gets
the same answer, token counts and vectors.  The rules are documented in
README.md ("Model services"); keep the two in step.
"""

import hashlib
import math
import re
import socket
import struct
import time

from core import Response
from lab import HOSTILE

# --------------------------------------------------------------------------
# Tokens

TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def count_tokens(text):
    """labsim's tokenizer: a token is a run of letters/digits/underscore
    (Hangul included) or one other non-space character."""
    if not text:
        return 0
    return len(TOKEN_RE.findall(text))


def pieces(text, per=4):
    """Split text into stream pieces of about `per` tokens.  The split is
    before the whitespace that precedes a token (as real tokenizers put the
    space at the start of a token); "".join(pieces) == text."""
    if not text:
        return []
    starts = []
    prev_end = 0
    for i, m in enumerate(TOKEN_RE.finditer(text)):
        if i and i % per == 0:
            starts.append(prev_end)
        prev_end = m.end()
    out = []
    a = 0
    for b in starts:
        out.append(text[a:b])
        a = b
    out.append(text[a:])
    return [p for p in out if p]


def cut_tokens(text, n):
    """The first n tokens of text (and the whitespace between them)."""
    if n <= 0:
        return ""
    for i, m in enumerate(TOKEN_RE.finditer(text)):
        if i == n - 1:
            return text[: m.end()]
    return text


def last_tokens(text, n):
    """The last n tokens of text (what a model with an n-token context sees)."""
    ms = list(TOKEN_RE.finditer(text))
    if len(ms) <= n:
        return text
    return text[ms[len(ms) - n].start():] if n > 0 else ""


# --------------------------------------------------------------------------
# Words, stems, keywords

STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be been before being below between both but by
can could did do does doing done down during each either else few for from further had has have having he
her here hers him his how i if in into is it its itself just let lets me more most my no nor not now of off
on once only or other our ours out over own please same she should so some such tell than that the their
theirs them then there these they this those to too under until up very was we were what when where which
while who whom whose why will with would yes yet you your yours
""".split())
# Korean particles stripped from the end of a word (longest first).
KO_PARTICLES = ("에서는", "으로는", "에게서", "까지는", "부터는", "에서", "으로", "에게", "한테", "까지", "부터",
                "처럼", "보다", "하고", "이나", "은", "는", "이", "가", "을", "를", "에", "의", "로", "와", "과",
                "도", "만", "나")
KO_STOP = frozenset(("어떻게", "무엇", "뭐", "좀", "그", "이", "저", "및", "등", "해줘", "알려줘", "하나요", "있나요",
                     "합니까", "하는", "방법"))
WORD_RE = re.compile(r"\w+")
HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")
DIRECTIVE_RE = re.compile(r"labsim:(tokens|chunk_ms)=(\d+)")
HOSTILE_RE = re.compile(r"labsim:hostile\b")  # the answer and the thinking carry lab.HOSTILE


def stem(word):
    """Lower-case; strip a plural/-ing/-ed/-ly ending from a Latin word, a
    particle from a Korean one."""
    w = word.lower()
    if HANGUL_RE.search(w):
        for p in KO_PARTICLES:
            if w.endswith(p) and len(w) > len(p):
                return w[: -len(p)]
        return w
    if w.isascii() and w.isalpha():
        for suf in ("ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "ly", "s"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                w = w[: -len(suf)]
                if suf == "ies":
                    w += "y"
                break
    return w


def content_words(text):
    """Words of text that carry meaning: lower-cased, no stop words, no
    single letters, no bare numbers."""
    out = []
    for w in WORD_RE.findall(text):
        lw = w.lower()
        if lw in STOPWORDS or lw in KO_STOP or lw.isdigit():
            continue
        if len(lw) < 2 or (len(lw) < 3 and not HANGUL_RE.search(lw)):
            continue
        out.append(lw)
    return out


def keywords(text, n=5):
    """The first n distinct content words of text, in order."""
    seen = []
    for w in content_words(DIRECTIVE_RE.sub(" ", text)):
        if w not in seen:
            seen.append(w)
            if len(seen) == n:
                break
    return seen


def join_words(ws):
    if not ws:
        return "nothing in particular"
    if len(ws) == 1:
        return ws[0]
    return ", ".join(ws[:-1]) + " and " + ws[-1]


# --------------------------------------------------------------------------
# Context sections (RAG prompts)

TITLE_RES = (
    # [1] proxmox-gpu.md > GPU passthrough      - [2]: title
    re.compile(r"^\s*(?:[-*]\s*)?\[(?:\d{1,3}|source\s*\d{1,3}|doc\s*\d{1,3})\]\s*[:.)\-]?\s*(\S.*?)\s*$", re.I),
    # Source: title   Title: title   Document 2: title   출처: title
    re.compile(r"^\s*(?:[-*]\s*|#+\s*)?(?:source|title|document|doc|출처|제목|문서)\s*\d{0,3}\s*[:：]\s*(\S.*?)\s*$",
               re.I),
    # <document title="...">  <doc id="1" title='...'>
    re.compile(r"^\s*<(?:document|doc|source|chunk|context)\b[^>]*\btitle\s*=\s*[\"']([^\"']+)[\"']", re.I),
)
CONTEXT_HEAD_RE = re.compile(r"^\s*(?:#+\s*|<)?(?:context|contexts|retrieved|컨텍스트|문맥|참고\s*문서|참고\s*자료)\b",
                             re.I)
QUESTION_RE = re.compile(r"^\s*(?:#+\s*)?(?:question|질문|q)\s*[:：]\s*(.*)$", re.I)
SCORE_TAIL_RE = re.compile(r"\s*[(\[](?:distance|dist|score|d|sim|similarity|cosine)\b[^)\]]*[)\]]\s*$", re.I)
CONDENSE_RE = re.compile(r"\bcondense\b", re.I)
HEADING_RE = re.compile(r"^\s*#{1,6}\s")


def _title_of(line):
    for rx in TITLE_RES:
        m = rx.match(line)
        if m:
            t = SCORE_TAIL_RE.sub("", m.group(1)).rstrip(" :")
            if t.startswith(("http://", "https://")) and rx is TITLE_RES[0]:
                return None  # a Markdown reference link, not a source
            return t or None
    return None


class Context:
    """The context section of a prompt: title lines and the blocks under them,
    the question, whether there is a context at all."""

    def __init__(self, text):
        self.lines = text.splitlines()
        self.blocks = []  # [title line verbatim, title, [body lines]]
        self.titles = []
        self.has_context = False
        self.question = None
        self.free_lines = []  # lines outside the blocks (instructions, the question)
        cur = None
        q_lines = None
        for ln in self.lines:
            if q_lines is not None:
                q_lines.append(ln)
                continue
            qm = QUESTION_RE.match(ln)
            if qm:
                q_lines = [qm.group(1)]
                self.free_lines.append(ln)
                cur = None
                continue
            t = _title_of(ln)
            if t is not None:
                self.has_context = True
                cur = [ln.strip(), t, []]
                self.blocks.append(cur)
                if t not in self.titles:
                    self.titles.append(t)
                continue
            if CONTEXT_HEAD_RE.match(ln):
                self.has_context = True
                cur = None
                continue
            if cur is not None:
                cur[2].append(ln)
            else:
                self.free_lines.append(ln)
        if q_lines is not None:
            self.free_lines.extend(q_lines[1:])
            self.question = "\n".join(q_lines).strip()

    def question_text(self):
        """The question: after a Question:/질문: label, else the last
        paragraph that is not part of a context block."""
        if self.question:
            return self.question
        if not self.has_context:
            return "\n".join(self.lines)
        in_block = set()
        for b in self.blocks:
            in_block.update(x.strip() for x in b[2] if x.strip())
        paras = []
        cur = []
        for ln in self.lines:
            if ln.strip():
                cur.append(ln)
            elif cur:
                paras.append(cur)
                cur = []
        if cur:
            paras.append(cur)
        for p in reversed(paras):
            if any(_title_of(x) for x in p) or any(CONTEXT_HEAD_RE.match(x) for x in p):
                continue
            if all(x.strip() in in_block for x in p):
                continue
            return "\n".join(p)
        return ""


def first_sentence(lines, cap=240):
    """The first sentence of a block of text (headings skipped)."""
    body = [x for x in lines if x.strip() and not HEADING_RE.match(x)] or [x for x in lines if x.strip()]
    text = " ".join(" ".join(body).split())
    if not text:
        return ""
    m = re.match(r"(.+?[.!?。])(?=\s|$)", text)
    s = m.group(1) if m else text
    if len(s) > cap:
        cut = s[:cap]
        sp = cut.rfind(" ")
        s = (cut[:sp] if sp > cap // 2 else cut) + " …"
    return s


def condense(ctx, text):
    """What the summary model answers when asked to condense: each block's
    title line, then the first sentence of its text."""
    out = []
    if ctx.blocks:
        for line, _t, body in ctx.blocks:
            s = first_sentence(body)
            out.append(line + ("\n" + s if s else ""))
        return "\n".join(out)
    # no title lines: the first sentence of each paragraph (questions left out)
    cur = []
    for ln in text.splitlines() + [""]:
        if QUESTION_RE.match(ln) or CONTEXT_HEAD_RE.match(ln):
            continue
        if ln.strip():
            cur.append(ln)
        elif cur:
            out.append(first_sentence(cur))
            cur = []
    return "\n".join(x for x in out if x)


# --------------------------------------------------------------------------
# The model


class Reply:
    """An answer: text, thinking, token counts, finish reason."""

    def __init__(self):
        self.text = ""
        self.thinking = ""
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.thinking_tokens = 0
        self.finish = "stop"  # or "length"
        self.chunk_ms = None
        self.titles = []
        self.condensed = False
        self.keywords = []


FILLER = ("{n}. {kw} 항목을 더 자세히 설명합니다: labsim keeps talking about {kw} so that long answers stream, "
          "wrap and scroll.")


def respond(model, system, turns, *, condense_ok=True, num_ctx=None, max_tokens=None, think=False,
            thinking_budget=None):
    """The deterministic model.

    model    the model name as it goes in the answer
    system   the system prompt ("" when none)
    turns    [(role, text)] in order; the roles are the API's own
    num_ctx  when set, the model sees only the last num_ctx tokens of the
             prompt (system + turns), as Ollama truncates
    max_tokens  the answer stops after that many tokens (finish "length")
    think    also produce thinking text
    """
    r = Reply()
    texts = ([system] if system else []) + [t for _, t in turns]
    full = "\n".join(texts)
    r.prompt_tokens = sum(count_tokens(t) for t in texts)
    users = [t for role, t in turns if role == "user"]
    last_user = users[-1] if users else ""
    sys_seen = system
    if num_ctx is not None and r.prompt_tokens > num_ctx:
        # the model sees only the end of the prompt: the system prompt and the
        # start of the conversation are gone, perhaps the start of the last turn
        r.prompt_tokens = num_ctx
        visible = last_tokens(full, num_ctx)
        sys_seen = ""
        if len(visible) < len(last_user):
            last_user = visible
    n_user_turns = max(1, sum(1 for role, _ in turns if role == "user"))

    m_tokens = None
    for k, v in DIRECTIVE_RE.findall(last_user):
        if k == "tokens":
            m_tokens = min(int(v), 1000000)
        elif k == "chunk_ms":
            r.chunk_ms = min(int(v), 60000)

    uctx = Context(last_user)
    sctx = Context(sys_seen) if sys_seen else None
    titles = list(uctx.titles)
    if sctx is not None:
        titles += [t for t in sctx.titles if t not in titles]
    has_context = uctx.has_context or (sctx is not None and sctx.has_context)
    r.titles = titles
    question = uctx.question_text() if uctx.has_context else last_user
    kws = keywords(question)
    r.keywords = kws

    wants_condense = condense_ok and has_context and (
        model.lower().startswith("exaone") or CONDENSE_RE.search(sys_seen or "") is not None
        or CONDENSE_RE.search("\n".join(uctx.free_lines)) is not None)
    if wants_condense:
        src_ctx, src_text = (uctx, last_user) if uctx.has_context else (sctx, sys_seen)
        text = condense(src_ctx, src_text) or first_sentence(last_user.splitlines())
        r.condensed = True
    else:
        text = "labsim-%s answers%s: you asked about %s. 요약: %s에 대한 모의 답변입니다. " \
               "The same prompt always gets the same answer, word for word." % (
                   model, " (turn %d)" % n_user_turns if n_user_turns > 1 else "", join_words(kws),
                   ", ".join(kws) if kws else "질문")
        if sys_seen and not (sctx is not None and sctx.has_context):
            skw = keywords(sys_seen, 3)
            if skw:
                text += " Following the system prompt: %s." % ", ".join(skw)
        if titles:
            text += " Sources seen: %s." % "; ".join(titles)
        q = question.lower()
        if "markdown" in q or "마크다운" in q:
            text += ("\n\n## 정리\n\n- **%s**: the first point\n- *%s*: the second point\n\n"
                     "```sh\n# labsim example\necho %s\n```\n" % (
                         kws[0] if kws else "labsim", kws[1] if len(kws) > 1 else "둘째", kws[0] if kws else "hi"))
        elif re.search(r"\bcode\b|코드", q):
            text += "\n\n```sh\n# labsim example\necho %s\n```\n" % (kws[0] if kws else "labsim")
        if m_tokens is not None:
            n = 1
            parts = [text]
            have = count_tokens(text)
            while have < m_tokens:
                s = " " + FILLER.format(n=n, kw=kws[(n - 1) % len(kws)] if kws else "labsim")
                if n % 5 == 0:
                    s = "\n\n" + s.lstrip()
                parts.append(s)
                have += count_tokens(s)
                n += 1
            text = cut_tokens("".join(parts), m_tokens)
    hostile = HOSTILE_RE.search(last_user) is not None
    if hostile:
        text += "\n" + HOSTILE + "\nafter the payloads."
    if max_tokens is not None and max_tokens >= 0 and count_tokens(text) > max_tokens:
        text = cut_tokens(text, max_tokens)
        r.finish = "length"
    r.text = text
    r.completion_tokens = count_tokens(text)
    if think:
        th = "The user asks about %s. I will answer briefly, in English and Korean (한국어로도)." % join_words(kws)
        if thinking_budget is not None and thinking_budget >= 0:
            th = cut_tokens(th, thinking_budget)
        if hostile:
            th += " " + HOSTILE
        r.thinking = th
        r.thinking_tokens = count_tokens(th)
    return r


# --------------------------------------------------------------------------
# Embeddings

_feature_cache = {}
EMBED_WORD_WEIGHT = 1.0
EMBED_TRIGRAM_WEIGHT = 0.25


def _feature(f, dim):
    key = (f, dim)
    v = _feature_cache.get(key)
    if v is None:
        h = int.from_bytes(hashlib.blake2b(f.encode("utf-8"), digest_size=8).digest(), "little")
        v = (h % dim, 1.0 if (h >> 40) & 1 else -1.0)
        if len(_feature_cache) < 500000:
            _feature_cache[key] = v
    return v


def embed(text, dim):
    """A normalised hashed bag of word stems plus their character trigrams:
    texts that share words are near in cosine distance, texts that share
    none are orthogonal.  A text without words gets a fixed unit vector."""
    vec = [0.0] * dim
    any_word = False
    for w in content_words(text):
        s = stem(w)
        any_word = True
        i, sign = _feature("w:" + s, dim)
        vec[i] += sign * EMBED_WORD_WEIGHT
        if len(s) >= 4:
            p = "^" + s + "$"
            for k in range(len(p) - 2):
                i, sign = _feature("t:" + p[k:k + 3], dim)
                vec[i] += sign * EMBED_TRIGRAM_WEIGHT
    if not any_word:
        vec[0] = 1.0
        return vec
    n = math.sqrt(sum(x * x for x in vec))
    if n == 0:
        vec[0] = 1.0
        return vec
    return [x / n for x in vec]


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f32_json(x):
    """A float32 as Go's encoding/json writes it: the shortest decimal that
    reads back as the same float32."""
    if x == 0:
        return "0"
    f = _f32(x)
    for p in range(6, 10):
        s = "%.*g" % (p, f)
        if _f32(float(s)) == f:
            break
    if "e" in s:
        mant, exp = s.split("e")
        e = int(exp)
        if abs(f) >= 1e-6 and e < 21:  # Go uses an exponent only below 1e-6
            digits = len(mant.replace("-", "").replace(".", "")) - e - 1
            s = "%.*f" % (max(0, digits), f)
        else:
            s = "%se%s%d" % (mant, "-" if e < 0 else "+", abs(e))  # Go: e-7, not e-07
    return s


def vector_json(vec):
    return "[" + ",".join(f32_json(x) for x in vec) + "]"


# --------------------------------------------------------------------------
# Time stamps

def rfc3339nano(t_ns=None):
    """2025-11-27T01:02:03.123456789Z with trailing zeros of the fraction
    dropped, as Go's time.RFC3339Nano writes UTC times."""
    if t_ns is None:
        t_ns = time.time_ns()
    sec, ns = divmod(t_ns, 1000000000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    frac = ("%09d" % ns).rstrip("0")
    return base + ("." + frac if frac else "") + "Z"


def local_rfc3339nano(t_ns=None, offset_h=9):
    """The same with a fixed +09:00 offset (the lab's Ollama runs in KST),
    as Ollama's /api/tags modified_at and /api/ps expires_at look."""
    if t_ns is None:
        t_ns = time.time_ns()
    t_ns += offset_h * 3600 * 1000000000
    s = rfc3339nano(t_ns)
    return s[:-1] + "%+03d:00" % offset_h


# --------------------------------------------------------------------------
# Streaming: events in split TCP writes

DEFAULT_CHUNK_MS = 2.0


def split_writes(events):
    """The writes that carry `events` (complete NDJSON lines or SSE events).
    Deterministic pattern, so every stream exercises a client's buffering:
    the first event goes whole; an event holding a multi-byte UTF-8
    character is split inside the first such character; of the others, by
    turns one goes whole, one is split in the middle, and one is glued to the
    next event."""
    out = []
    i = 0
    k = 0
    n = len(events)
    while i < n:
        ev = events[i]
        mb = next((j for j, b in enumerate(ev) if b >= 0xC0), -1)
        if i == 0:
            out.append(ev)
        elif mb >= 0:
            out.append(ev[: mb + 1])
            out.append(ev[mb + 1:])
        else:
            mode = k % 3
            k += 1
            if mode == 1 and len(ev) > 2:
                out.append(ev[: len(ev) // 2])
                out.append(ev[len(ev) // 2:])
            elif mode == 2 and i + 1 < n and not any(b >= 0xC0 for b in events[i + 1]):
                out.append(ev + events[i + 1])
                i += 1
            else:
                out.append(ev)
        i += 1
    return [w for w in out if w]


def set_nodelay(req):
    try:
        req.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError, ValueError):
        pass


def stream_writes(req, events, chunk_ms):
    """An iterator of writes for a Response's chunks: the events in split
    writes, chunk_ms apart; it stops when the client goes."""
    set_nodelay(req)
    delay = max(0.0, chunk_ms) / 1000.0
    first = True
    for w in split_writes(events):
        if not first:
            if delay:
                time.sleep(delay)
            if req.client_gone():
                return
        first = False
        yield w


class LlmBackend:
    """What the three model servers share: the streaming fault kinds.

    A subclass implements:
      prepare(req) -> a "plan" object or None    (cached on req.extra)
        A plan for a streaming answer has .events (complete events, bytes),
        .chunk_ms, .status, .headers, .content_type.
      error_event(params, plan) -> bytes   (the provider's in-band error)
    """

    chunk_ms = DEFAULT_CHUNK_MS

    def plan(self, req):
        """prepare(req), once per request.  An exception is a labsim bug: it
        goes up (core logs it with its traceback and answers 500)."""
        if "plan" not in req.extra:
            req.extra["plan"] = self.prepare(req)
        return req.extra["plan"]

    def is_stream(self, req):
        p = self.plan(req)
        return p is not None and getattr(p, "events", None) is not None

    def stream_fault(self, req, kind, params):
        """-> (Response, ending) for the streaming fault kinds, or None."""
        p = self.plan(req)
        if p is None or p.events is None:
            return None
        after = int(params.get("after", 3 if kind == "midstream_error" else 2))
        after = max(0, min(after, max(0, len(p.events) - 1)))
        events = list(p.events[:after])
        if kind == "midstream_error":
            events.append(self.error_event(params, p))
            ending = "end"
        elif kind == "truncated_stream":
            ev = p.events[after]
            events.append(ev[: max(1, len(ev) // 2)])
            ending = "end" if int(params.get("clean", 0)) else "close"
        else:  # stall
            ending = "stall"
        resp = Response(p.status, headers=p.headers, content_type=p.content_type,
                        chunks=stream_writes(req, events, p.chunk_ms))
        return resp, ending


class StreamPlan:
    def __init__(self, events, chunk_ms, content_type, status=200, headers=None):
        self.events = events
        self.chunk_ms = chunk_ms
        self.content_type = content_type
        self.status = status
        self.headers = list(headers or [])
