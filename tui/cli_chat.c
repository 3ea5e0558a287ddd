/* cli_chat.c: `labdeck chat [--provider ollama|gemini|openai] [--model M] [--no-cache]
 * [--session NAME] [--rag] MESSAGE|-`. The answer streams to stdout as it arrives (flushed per
 * token; sanitised when stdout is a terminal, as is otherwise); thinking text never goes to
 * stdout: dimmed on stderr when that is a terminal, in the "thinking" field with --json. With
 * --json nothing is streamed: one object (SPEC.md §3) is printed at the end. Ctrl-C stops the
 * stream, keeps what was printed and exits 130.
 *
 * The work is split so sessions, the cache and RAG can be wired in: cli_chat parses and builds
 * the message list, cli_chat_run sends any request and hands the result back, and the printing
 * of the result is separate. --session, --no-cache and --rag are parsed and validated here; their
 * effect is not wired yet. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "llm.h"
#include "llm_cache.h"
#include "redis_client.h"
#include "session.h"
#include "text.h"
#include "util.h"
#include "vector_store.h"

/* A message read from stdin larger than this is refused. */
#define MAX_STDIN ((size_t)16 << 20)
#define MAX_SESSION_NAME 64

struct chat_args {
	enum llm_provider provider;
	const char *model;   /* NULL: the provider's configured model */
	const char *session; /* NULL: none */
	bool no_cache;
	bool rag;
	char *message; /* owned */
};

static void chat_usage(FILE *out)
{
	fputs("usage: labdeck chat [--provider ollama|gemini|openai] [--model M] [--rag]\n"
	      "                    [--session NAME] [--no-cache] [--json] MESSAGE|-\n"
	      "\n"
	      "Streams the model's answer to stdout as it arrives. MESSAGE - reads the message\n"
	      "from standard input. The default provider is ollama with [ollama] chat_model.\n"
	      "With --json, prints one object at the end:\n"
	      "  {\"provider\",\"model\",\"text\",\"thinking\",\"usage\":{\"prompt_tokens\",\n"
	      "   \"completion_tokens\"},\"sources\",\"cloud_tokens\",\"local_tokens\"}\n"
	      "Ctrl-C stops the answer and keeps what came (exit 130).\n"
	      "\n"
	      "  --session NAME   keep the conversation under NAME (Redis when [redis] url is "
	      "set,\n"
	      "                   else files in $XDG_STATE_HOME/labdeck/sessions)\n"
	      "  --rag            answer from your documents (labdeck rag ingest); with\n"
	      "                   [rag] pipeline = condense a local model condenses them first\n"
	      "  --no-cache       ask again even if Redis holds the answer to this question\n",
	      out);
}

__attribute__((format(printf, 1, 2))) static int chat_usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char *safe = text_sanitize(msg, false);
	fprintf(stderr, "labdeck: chat: %s\nTry 'labdeck chat --help'.\n", safe);
	free(safe);
	return 2;
}

/* session_name_ok: a name that can be a file name and a Redis key part: 1-64 bytes of UTF-8,
 * no whitespace, no control characters, no '/' or '\\', not starting with '.'. */
static bool session_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_SESSION_NAME || s[0] == '.') {
		return false;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '/' || *p == '\\') {
			return false;
		}
	}
	char *clean = text_sanitize(s, false);
	bool same = strcmp(clean, s) == 0; /* no invalid UTF-8, no bidi controls */
	free(clean);
	return same;
}

/* read_stdin reads all of standard input; NULL with a message in err when it cannot. */
static char *read_stdin(struct err *err)
{
	struct buf b;
	buf_init(&b);
	char chunk[65536];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			err_set(err, ERR_USAGE, 0, "cannot read standard input: %s",
			        strerror(errno));
			buf_finish(&b);
			return NULL;
		}
		if (n == 0) {
			break;
		}
		if (b.len + (size_t)n > MAX_STDIN) {
			err_set(err, ERR_USAGE, 0,
			        "the message on standard input is larger than %zu MiB",
			        MAX_STDIN >> 20);
			buf_finish(&b);
			return NULL;
		}
		buf_append(&b, chunk, (size_t)n);
	}
	char *s = buf_steal(&b);
	/* The line end a shell or an editor leaves is not part of the message. */
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) {
		s[--len] = '\0';
	}
	return s;
}

static bool blank(const char *s)
{
	for (; *s; s++) {
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
			return false;
		}
	}
	return true;
}

enum {
	OPT_PROVIDER = 2000,
	OPT_MODEL,
	OPT_NO_CACHE,
	OPT_SESSION,
	OPT_RAG,
	OPT_CHAT_JSON,
	OPT_CHAT_TIMEOUT,
};

/* parse_args fills a from argv (argv[0] is "chat"); returns -1 to go on, else an exit status. */
static int parse_args(struct cli *c, int argc, char **argv, struct chat_args *a)
{
	static const struct option opts[] = {
	        {"provider", required_argument, NULL, OPT_PROVIDER},
	        {"model", required_argument, NULL, OPT_MODEL},
	        {"no-cache", no_argument, NULL, OPT_NO_CACHE},
	        {"session", required_argument, NULL, OPT_SESSION},
	        {"rag", no_argument, NULL, OPT_RAG},
	        {"json", no_argument, NULL, OPT_CHAT_JSON},
	        {"timeout", required_argument, NULL, OPT_CHAT_TIMEOUT},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	a->provider = LLM_OLLAMA;
	optind = 0; /* a fresh scan (GNU getopt) */
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_PROVIDER:
			if (!llm_provider_from_name(optarg, &a->provider)) {
				return chat_usage_error(
				        "--provider must be ollama, gemini or openai, not "
				        "'%s'",
				        optarg);
			}
			break;
		case OPT_MODEL:
			if (!*optarg) {
				return chat_usage_error("--model wants a model name");
			}
			a->model = optarg;
			break;
		case OPT_NO_CACHE:
			a->no_cache = true;
			break;
		case OPT_SESSION:
			if (!session_name_ok(optarg)) {
				return chat_usage_error("--session wants a name of 1 to %d "
				                        "characters without spaces, "
				                        "'/' or a leading '.', not '%s'",
				                        MAX_SESSION_NAME, optarg);
			}
			a->session = optarg;
			break;
		case OPT_RAG:
			a->rag = true;
			break;
		case OPT_CHAT_JSON:
			c->json = true;
			break;
		case OPT_CHAT_TIMEOUT: {
			char *end;
			double s = strtod(optarg, &end);
			if (*end || s <= 0 || s > 3600) {
				return chat_usage_error(
				        "--timeout wants seconds (0 < s <= 3600), not '%s'",
				        optarg);
			}
			c->timeout_ms = (long)(s * 1000);
			break;
		}
		case 'h':
			chat_usage(stdout);
			return 0;
		case ':':
			return chat_usage_error("%s needs a value", argv[optind - 1]);
		default: {
			const char *bad = argv[optind - 1];
			return chat_usage_error("unknown option '%s'", bad ? bad : "?");
		}
		}
	}
	if (optind >= argc) {
		return chat_usage_error("what should I ask? Give a MESSAGE, or - to read it from "
		                        "standard input");
	}
	if (strcmp(argv[optind], "-") == 0) {
		if (optind + 1 < argc) {
			return chat_usage_error("- reads the message from standard input and takes "
			                        "nothing after it");
		}
		struct err e;
		a->message = read_stdin(&e);
		if (!a->message) {
			return chat_usage_error("%s", e.msg);
		}
	} else {
		/* Several words without quotes are one message. */
		struct buf b;
		buf_init(&b);
		for (int i = optind; i < argc; i++) {
			buf_appendf(&b, "%s%s", i > optind ? " " : "", argv[i]);
		}
		a->message = buf_steal(&b);
	}
	if (blank(a->message)) {
		free(a->message);
		a->message = NULL;
		return chat_usage_error("the message is empty");
	}
	return -1;
}

/* ---- streaming ---------------------------------------------------------------------------- */

struct run_state {
	struct cli *c;
	struct llm_call *call;
	struct llm_result *res;
	bool done;
	int signal; /* the signal that stopped the stream, 0 */
	bool out_tty, err_tty, color;
	bool wrote_text;    /* some answer text reached stdout */
	char last_text;     /* the last byte of it */
	bool in_thinking;   /* thinking text is being shown on stderr */
	char last_thinking; /* its last byte */
	bool stdout_broken; /* a write to stdout failed (the reader went away) */
};

static void write_out(struct run_state *st, FILE *f, const char *text, size_t len, bool tty)
{
	if (tty) {
		/* Network text never reaches a terminal as control sequences. */
		char *copy = xstrndup(text, len);
		char *safe = text_sanitize(copy, true);
		fputs(safe, f);
		free(safe);
		free(copy);
	} else {
		fwrite(text, 1, len, f);
	}
	fflush(f);
	if (f == stdout && ferror(stdout)) {
		st->stdout_broken = true;
	}
}

static void end_thinking(struct run_state *st)
{
	if (!st->in_thinking) {
		return;
	}
	if (st->color) {
		fputs("\033[0m", stderr);
	}
	if (st->last_thinking != '\n') {
		fputc('\n', stderr);
	}
	fflush(stderr);
	st->in_thinking = false;
}

static void on_token(void *ud, const char *text, size_t len, bool thinking)
{
	struct run_state *st = ud;
	if (st->c->json || st->stdout_broken) {
		return;
	}
	if (thinking) {
		if (!st->err_tty) {
			return; /* only for a person watching; scripts get it with --json */
		}
		if (!st->in_thinking && st->color) {
			fputs("\033[2m", stderr);
		}
		st->in_thinking = true;
		write_out(st, stderr, text, len, true);
		st->last_thinking = text[len - 1];
		return;
	}
	end_thinking(st);
	write_out(st, stdout, text, len, st->out_tty);
	st->wrote_text = true;
	st->last_text = text[len - 1];
	if (st->stdout_broken && st->call) {
		st->res = llm_cancel(st->call);
		st->call = NULL;
		st->done = true;
	}
}

static void on_done(void *ud, struct llm_result *res)
{
	struct run_state *st = ud;
	st->res = res;
	st->call = NULL;
	st->done = true;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct run_state *st = arg;
	if (st->done) {
		return;
	}
	st->signal = (int)sig;
	st->res = llm_cancel(st->call);
	st->call = NULL;
	st->done = true;
}

static struct llm_result *config_failure(const struct llm_request *req, const struct err *e)
{
	struct llm_result *res = llm_result_new(req->provider, req->model);
	res->ok = false;
	res->err = *e;
	return res;
}

struct llm_result *cli_chat_run(struct cli *c, const struct llm_request *req, int *stopped_by)
{
	*stopped_by = 0;
	struct run_state st = {
	        .c = c,
	        .out_tty = isatty(STDOUT_FILENO),
	        .err_tty = isatty(STDERR_FILENO),
	};
	const char *no_color = getenv("NO_COLOR");
	st.color = st.err_tty && !(no_color && *no_color);
	struct llm *l = llm_create(c->http, &c->cfg);
	if (c->timeout_ms > 0) {
		llm_set_idle_timeout(l, c->timeout_ms);
	}
	struct llm_callbacks cb = {on_token, on_done, &st};
	struct err e;
	st.call = llm_chat(l, req, &cb, &e);
	if (!st.call) {
		llm_destroy(l);
		return config_failure(req, &e);
	}
	struct event *sigint = evsignal_new(c->base, SIGINT, on_signal, &st);
	struct event *sigterm = evsignal_new(c->base, SIGTERM, on_signal, &st);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	while (!st.done) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	event_free(sigint);
	event_free(sigterm);
	llm_destroy(l);
	end_thinking(&st);
	if (!c->json && st.wrote_text && st.last_text != '\n' && !st.stdout_broken) {
		fputc('\n', stdout); /* end the answer's last line */
		fflush(stdout);
	}
	*stopped_by = st.signal ? st.signal : st.stdout_broken ? SIGPIPE : 0;
	return st.res;
}

/* ---- the answer as JSON ------------------------------------------------------------------- */

/* jtext: a JSON string of len bytes; text that is not valid UTF-8 (a message cut by err_set's
 * buffer) goes through text_sanitize, which mends it. */
static json_t *jtext(const char *s, size_t len)
{
	json_t *v = json_stringn(s, len);
	if (!v) {
		char *copy = xstrndup(s, len);
		char *safe = text_sanitize(copy, true);
		v = json_string(safe);
		free(safe);
		free(copy);
	}
	return v ? v : json_string("");
}

static json_t *count_or_null(bool known, int64_t v)
{
	return known ? json_integer(v) : json_null();
}

/* What the command adds around one answer: retrieval, the pipeline, the cache. */
struct chat_extra {
	json_t *sources;      /* [{"id","title","distance"}], owned */
	int64_t local_tokens; /* spent by local models besides the answer (condensing) */
	bool cached;          /* answered from the cache */
	const char *pipeline; /* "condense", "direct" or NULL (no retrieval) */
	size_t context_chars; /* the context sent with the question */
	size_t direct_chars;  /* what "direct" would have sent */
};

static void print_json(const struct llm_result *res, const struct chat_extra *x)
{
	/* A cached answer cost nothing this time. */
	int64_t total = res->usage.known && !x->cached
	                        ? res->usage.prompt_tokens + res->usage.completion_tokens
	                        : 0;
	bool cloud = llm_provider_is_cloud(res->provider);
	json_t *root = json_object();
	json_object_set_new(root, "provider", json_string(llm_provider_name(res->provider)));
	json_object_set_new(root, "model", jtext(res->model, strlen(res->model)));
	json_object_set_new(root, "text", jtext(res->text, res->text_len));
	json_object_set_new(root, "thinking", jtext(res->thinking, res->thinking_len));
	json_t *usage = json_object();
	json_object_set_new(usage, "prompt_tokens",
	                    count_or_null(res->usage.known, res->usage.prompt_tokens));
	json_object_set_new(usage, "completion_tokens",
	                    count_or_null(res->usage.known, res->usage.completion_tokens));
	json_object_set_new(usage, "thinking_tokens",
	                    count_or_null(res->usage.known, res->usage.thinking_tokens));
	json_object_set_new(root, "usage", usage);
	json_object_set_new(root, "sources", x->sources ? json_incref(x->sources) : json_array());
	json_object_set_new(root, "cloud_tokens", json_integer(cloud ? total : 0));
	json_object_set_new(root, "local_tokens",
	                    json_integer((cloud ? 0 : total) + x->local_tokens));
	json_object_set_new(root, "cached", json_boolean(x->cached));
	if (x->pipeline) {
		json_t *rag = json_object();
		json_object_set_new(rag, "pipeline", json_string(x->pipeline));
		json_object_set_new(rag, "context_chars",
		                    json_integer((json_int_t)x->context_chars));
		json_object_set_new(rag, "direct_chars", json_integer((json_int_t)x->direct_chars));
		json_object_set_new(root, "rag", rag);
	}
	json_object_set_new(root, "finish_reason",
	                    res->finish_reason
	                            ? jtext(res->finish_reason, strlen(res->finish_reason))
	                            : json_null());
	json_object_set_new(root, "truncated", json_boolean(res->truncated));
	json_object_set_new(root, "cancelled", json_boolean(res->cancelled));
	if (!res->ok) {
		json_t *e = json_object();
		json_object_set_new(e, "code", json_string(err_code_name(res->err.code)));
		json_object_set_new(e, "message", jtext(res->err.msg, strlen(res->err.msg)));
		json_object_set_new(root, "error", e);
	}
	bool tty = isatty(STDOUT_FILENO);
	/* On a terminal, escape everything non-ASCII so no byte can act as a control sequence. */
	size_t flags = JSON_INDENT(tty ? 2 : 0) | JSON_COMPACT | (tty ? JSON_ENSURE_ASCII : 0);
	json_dumpf(root, stdout, flags);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(root);
}

/* ---- the command -------------------------------------------------------------------------- */

/* --- waiting on the loop for the session store and the cache --- */

struct wait_one {
	bool done;
	bool failed;
	struct err err;
	struct session *loaded;
	struct llm_cache_answer *hit;
};

static void run_until(struct cli *c, const bool *done)
{
	while (!*done) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
}

static void on_session_loaded(void *ud, struct session *s, const struct err *err)
{
	struct wait_one *w = ud;
	w->done = true;
	w->loaded = s;
	if (err) {
		w->failed = true;
		w->err = *err;
	}
}

static void on_session_saved(void *ud, const struct err *err)
{
	struct wait_one *w = ud;
	w->done = true;
	if (err) {
		w->failed = true;
		w->err = *err;
	}
}

static void on_cache_get(void *ud, struct llm_cache_answer *hit)
{
	struct wait_one *w = ud;
	w->done = true;
	w->hit = hit;
}

static void on_cache_put(void *ud, bool stored)
{
	(void)stored;
	struct wait_one *w = ud;
	w->done = true;
}

static const char *role_name(enum llm_role r)
{
	return r == LLM_ROLE_SYSTEM ? "system" : r == LLM_ROLE_ASSISTANT ? "assistant" : "user";
}

static enum llm_role role_of(const char *s)
{
	return str_eq(s, "system")      ? LLM_ROLE_SYSTEM
	       : str_eq(s, "assistant") ? LLM_ROLE_ASSISTANT
	                                : LLM_ROLE_USER;
}

/* --- retrieval and the cost-saving pipeline --- */

/* The retrieved chunks as one context block, each under its title. */
static char *join_chunks(const struct vector_store_hits *hits)
{
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < hits->len; i++) {
		buf_appendf(&b, "## %s\n%s\n\n", hits->items[i].title, hits->items[i].text);
	}
	return buf_steal(&b);
}

/* condense asks the local summary model to shrink the context toward the question; the text
 * (NULL when it failed: then the caller sends the chunks as they are) and its token cost. */
static char *condense(struct cli *c, const char *question, const char *context, int64_t *tokens)
{
	char *prompt =
	        xasprintf("Condense the context below to what answers the question. Keep each "
	                  "title line and the facts that matter; drop the rest.\n\n"
	                  "Question: %s\n\nContext:\n%s",
	                  question, context);
	struct llm_message m = {LLM_ROLE_USER, prompt};
	struct llm_request req;
	llm_request_init(&req, LLM_OLLAMA);
	req.model = c->cfg.ollama.summary_model;
	req.messages = &m;
	req.n_messages = 1;
	bool json = c->json;
	c->json = true; /* nothing of the condensing reaches stdout */
	int stopped = 0;
	struct llm_result *r = cli_chat_run(c, &req, &stopped);
	c->json = json;
	free(prompt);
	char *out = NULL;
	if (r->ok && r->text_len) {
		out = xstrndup(r->text, r->text_len);
		*tokens += r->usage.known ? r->usage.prompt_tokens + r->usage.completion_tokens : 0;
	} else {
		char *why = text_sanitize(r->err.msg, false);
		fprintf(stderr,
		        "labdeck: rag: condensing with %s failed (%s); sending the chunks as "
		        "they are\n",
		        c->cfg.ollama.summary_model, why);
		free(why);
	}
	llm_result_free(r);
	return out;
}

int cli_chat(struct cli *c, int argc, char **argv)
{
	struct chat_args a;
	int rc = parse_args(c, argc, argv, &a);
	if (rc >= 0) {
		return rc;
	}
	struct chat_extra x = {0};
	struct redis_client *redis = NULL;
	if (c->cfg.redis.configured) {
		struct err e;
		redis = redis_client_create(c->base, c->cfg.redis.url, c->cfg.redis.password, &e);
		if (!redis) {
			cli_add_error(c, "redis", &e);
		}
	}

	/* 1. The session: its history goes before the new message. */
	struct session_store *store = NULL;
	struct session *sess = NULL;
	if (a.session) {
		store = session_store_create(c->base, redis, NULL);
		struct wait_one w = {0};
		session_load(store, a.session, on_session_loaded, &w);
		run_until(c, &w.done);
		if (w.failed) {
			/* The store is away (Redis down): the chat goes on without the history; the
			 * failure is told here and its exit status kept. */
			c->exit_status =
			        err_worse_exit(c->exit_status, err_exit_status(w.err.code));
			char *why = text_sanitize(w.err.msg, false);
			fprintf(stderr, "labdeck: %s; answering without the session's history\n",
			        why);
			free(why);
			session_destroy(w.loaded);
		} else {
			sess = w.loaded;
		}
	}

	/* 2. Retrieval, then the pipeline: condense locally before a cloud call. */
	char *context = NULL;
	struct vector_store_hits hits = {0};
	if (a.rag) {
		size_t errors_before = c->n_errors;
		int status_before = c->exit_status;
		if (!cli_rag_retrieve(c, a.message, &hits)) {
			/* RAG off, with the reason; the chat goes on without context. */
			for (size_t i = errors_before; i < c->n_errors; i++) {
				char *why = text_sanitize(c->errors[i].err.msg, false);
				fprintf(stderr,
				        "labdeck: warning: %s; answering without retrieved "
				        "context\n",
				        why);
				free(why);
				free(c->errors[i].backend);
			}
			c->n_errors = errors_before;
			c->exit_status = status_before;
		}
		if (hits.len) {
			x.sources = json_array();
			for (size_t i = 0; i < hits.len; i++) {
				json_t *o = json_object();
				json_object_set_new(o, "id",
				                    json_integer((json_int_t)hits.items[i].id));
				json_object_set_new(o, "title", json_string(hits.items[i].title));
				json_object_set_new(o, "distance",
				                    json_real(hits.items[i].distance));
				json_object_set_new(o, "source", json_string(hits.items[i].source));
				json_array_append_new(x.sources, o);
			}
			char *direct = join_chunks(&hits);
			x.direct_chars = strlen(direct);
			x.pipeline = str_eq(c->cfg.rag.pipeline, "direct") ? "direct" : "condense";
			if (strcmp(x.pipeline, "condense") == 0) {
				context = condense(c, a.message, direct, &x.local_tokens);
			}
			if (context && strlen(context) >= strlen(direct)) {
				/* Short chunks can come back longer: then they go as they are. */
				free(context);
				context = NULL;
				x.pipeline = "condense (kept the chunks: they were shorter)";
			}
			if (!context) {
				context = direct;
			} else {
				free(direct);
			}
			x.context_chars = strlen(context);
		}
	}
	char *asked = context ? xasprintf("Answer from the context when it helps.\n\nContext:\n%s\n"
	                                  "Question: %s",
	                                  context, a.message)
	                      : xstrdup(a.message);

	/* 3. The messages: the session's history, then the question. */
	size_t n = (sess ? sess->len : 0) + 1;
	struct llm_message *msgs = xcalloc(n, sizeof(*msgs));
	struct llm_cache_message *cmsgs = xcalloc(n, sizeof(*cmsgs));
	for (size_t i = 0; sess && i < sess->len; i++) {
		msgs[i].role = role_of(sess->messages[i].role);
		msgs[i].content = sess->messages[i].content;
	}
	msgs[n - 1].role = LLM_ROLE_USER;
	msgs[n - 1].content = asked;
	for (size_t i = 0; i < n; i++) {
		cmsgs[i].role = role_name(msgs[i].role);
		cmsgs[i].content = msgs[i].content;
	}
	struct llm_request req;
	llm_request_init(&req, a.provider);
	req.model = a.model;
	req.messages = msgs;
	req.n_messages = n;
	req.system = sess && sess->system ? sess->system : NULL;

	/* 4. The cache: an identical request is answered from Redis. */
	struct llm_cache *cache = NULL;
	struct llm_cache_request creq = {0};
	json_t *params = json_object();
	const char *model = a.model ? a.model : llm_default_model(&c->cfg, a.provider);
	if (redis && !a.no_cache && c->cfg.redis.cache_ttl > 0) {
		cache = llm_cache_create(c->base, redis, c->cfg.redis.cache_ttl);
		if (a.provider == LLM_OLLAMA) {
			json_object_set_new(params, "num_ctx", json_integer(c->cfg.ollama.num_ctx));
		}
		creq.provider = llm_provider_name(a.provider);
		creq.model = model;
		creq.messages = cmsgs;
		creq.n_messages = n;
		creq.params = params;
	}
	struct llm_result *res = NULL;
	int stopped_by = 0;
	if (cache) {
		struct wait_one w = {0};
		llm_cache_get(cache, &creq, on_cache_get, &w);
		run_until(c, &w.done);
		if (w.hit) {
			res = llm_result_new(a.provider, model);
			free(res->text);
			res->text = xstrdup(w.hit->text);
			res->text_len = strlen(res->text);
			res->ok = true;
			res->usage.known = w.hit->prompt_tokens >= 0;
			res->usage.prompt_tokens = w.hit->prompt_tokens;
			res->usage.completion_tokens = w.hit->completion_tokens;
			x.cached = true;
			if (!c->json) {
				bool tty = isatty(STDOUT_FILENO);
				char *out =
				        tty ? text_sanitize(res->text, true) : xstrdup(res->text);
				fputs(out, stdout);
				if (res->text_len && res->text[res->text_len - 1] != '\n') {
					fputc('\n', stdout);
				}
				fflush(stdout);
				free(out);
				if (isatty(STDERR_FILENO)) {
					fputs("labdeck: (answered from the cache; --no-cache asks "
					      "again)\n",
					      stderr);
				}
			}
			llm_cache_answer_free(w.hit);
		}
	}
	if (!res) {
		res = cli_chat_run(c, &req, &stopped_by);
		if (cache && res->ok && !res->truncated) {
			struct llm_cache_answer ans = {
			        .text = res->text,
			        .thinking = res->thinking_len ? res->thinking : NULL,
			        .prompt_tokens =
			                res->usage.known ? (long)res->usage.prompt_tokens : -1,
			        .completion_tokens =
			                res->usage.known ? (long)res->usage.completion_tokens : -1,
			        .created = now_wall(),
			};
			struct wait_one w = {0};
			llm_cache_put(cache, &creq, &ans, on_cache_put, &w);
			run_until(c, &w.done);
		}
	}

	/* 5. The session keeps the question (without the retrieved context) and the answer. */
	if (sess && res->ok) {
		session_set_meta(sess, llm_provider_name(a.provider), a.model, NULL);
		session_add(sess, "user", a.message);
		session_add(sess, "assistant", res->text);
		struct wait_one w = {0};
		session_save(store, sess, on_session_saved, &w);
		run_until(c, &w.done);
		if (w.failed) {
			cli_add_error(c, "session", &w.err);
		}
	}

	int status = 0;
	if (c->json && stopped_by != SIGPIPE &&
	    (res->ok || res->text_len > 0 || res->thinking_len > 0 || stopped_by)) {
		print_json(res, &x);
	}
	if (stopped_by) {
		status = 128 + stopped_by; /* as if the signal had ended us: 130 for Ctrl-C */
	} else if (!res->ok) {
		cli_add_error(c, llm_provider_name(a.provider), &res->err);
		cli_report_errors(c);
		status = c->exit_status;
	} else {
		if (res->truncated && res->finish_reason) {
			char *why = text_sanitize(res->finish_reason, false);
			fprintf(stderr, "labdeck: %s: the answer was cut at the token limit (%s)\n",
			        llm_provider_name(a.provider), why);
			free(why);
		}
		cli_report_errors(
		        c); /* the answer came; a session that could not be saved says so */
		status = c->exit_status;
	}
	llm_result_free(res);
	llm_cache_destroy(cache);
	json_decref(params);
	json_decref(x.sources);
	free(msgs);
	free(cmsgs);
	free(asked);
	free(context);
	vector_store_hits_finish(&hits);
	session_destroy(sess);
	session_store_destroy(store);
	redis_client_destroy(redis);
	free(a.message);
	return status;
}
