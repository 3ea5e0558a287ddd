/* cli_chat.c: `labdeck chat [--provider ollama|gemini|openai] [--model M] [--no-cache]
 * [--session NAME] [--rag] MESSAGE|-`. The answer streams to stdout as it arrives (flushed per
 * token; sanitised when stdout is a terminal, as is otherwise); thinking text never goes to
 * stdout: dimmed on stderr when that is a terminal, in the "thinking" field with --json. With
 * --json nothing is streamed: one object (SPEC.md §3) is printed at the end. Ctrl-C stops the
 * stream, keeps what was printed and exits 130.
 *
 * The question goes through chat_turn.h (retrieval with --rag, the [rag] pipeline, the cache,
 * the answer), the same pipeline the console's chat view uses; this file adds the command line
 * around it: the session (--session, loaded before and saved after), the output and the exit
 * status. */
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

#include "chat_turn.h"
#include "cli.h"
#include "llm.h"
#include "llm_cache.h"
#include "redis_client.h"
#include "session.h"
#include "text.h"
#include "util.h"

/* A message read from stdin larger than this is refused. */
#define MAX_STDIN ((size_t)16 << 20)

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
	      "and, when the answer failed, \"error\":{\"code\",\"message\"} (stderr says it "
	      "too).\n"
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
				return cli_usage_error(
				        "chat",
				        "--provider must be ollama, gemini or openai, not "
				        "'%s'",
				        optarg);
			}
			break;
		case OPT_MODEL:
			if (!*optarg) {
				return cli_usage_error("chat", "--model wants a model name");
			}
			a->model = optarg;
			break;
		case OPT_NO_CACHE:
			a->no_cache = true;
			break;
		case OPT_SESSION: {
			struct err e;
			if (!session_name_valid(optarg, &e)) {
				return cli_usage_error("chat", "--session: %s", e.msg);
			}
			a->session = optarg;
		} break;
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
				return cli_usage_error(
				        "chat", "--timeout wants seconds (0 < s <= 3600), not '%s'",
				        optarg);
			}
			c->timeout_ms = (long)(s * 1000);
			break;
		}
		case 'h':
			chat_usage(stdout);
			return 0;
		case ':':
			return cli_usage_error("chat", "%s needs a value", argv[optind - 1]);
		default: {
			const char *bad = argv[optind - 1];
			return cli_usage_error("chat", "unknown option '%s'", bad ? bad : "?");
		}
		}
	}
	if (optind >= argc) {
		return cli_usage_error("chat",
		                       "what should I ask? Give a MESSAGE, or - to read it from "
		                       "standard input");
	}
	if (strcmp(argv[optind], "-") == 0) {
		if (optind + 1 < argc) {
			return cli_usage_error("chat",
			                       "- reads the message from standard input and takes "
			                       "nothing after it");
		}
		struct err e;
		a->message = read_stdin(&e);
		if (!a->message) {
			return cli_usage_error("chat", "%s", e.msg);
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
		return cli_usage_error("chat", "the message is empty");
	}
	return -1;
}

/* ---- streaming ---------------------------------------------------------------------------- */

struct run_state {
	struct cli *c;
	struct chat_turn *turn;
	struct chat_turn_result *res;
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
	/* Network text never reaches a terminal as control sequences, nor a pipe (which often ends
	 * on one: less -R, tee); a pipe keeps tabs. The exact text is in --json. */
	char *copy = xstrndup(text, len);
	char *safe = tty ? text_sanitize(copy, true) : text_sanitize_file(copy);
	fputs(safe, f);
	free(safe);
	free(copy);
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

/* stop ends the turn now, keeping what came. */
static void stop(struct run_state *st)
{
	st->res = chat_turn_cancel(st->turn);
	st->turn = NULL;
	st->done = true;
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
	if (st->stdout_broken && st->turn) {
		stop(st);
	}
}

static void on_warning(void *ud, const char *backend, const struct err *e)
{
	(void)backend;
	struct run_state *st = ud;
	end_thinking(st);
	char *why = text_sanitize(e->msg, false);
	fprintf(stderr, "labdeck: warning: %s\n", why);
	free(why);
}

static void on_done(void *ud, struct chat_turn_result *res)
{
	struct run_state *st = ud;
	st->res = res;
	st->turn = NULL;
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
	stop(st);
}

/* run_turn asks the question on c's loop, streaming the answer as it comes; Ctrl-C or SIGTERM
 * stops it, keeping what came (*stopped_by is then that signal; SIGPIPE when stdout went away).
 * Never NULL. */
static struct chat_turn_result *run_turn(struct cli *c, const struct chat_turn_opts *o,
                                         const char *question, int *stopped_by)
{
	struct run_state st = {
	        .c = c,
	        .out_tty = isatty(STDOUT_FILENO),
	        .err_tty = isatty(STDERR_FILENO),
	};
	const char *no_color = getenv("NO_COLOR");
	st.color = st.err_tty && !(no_color && *no_color);
	struct chat_turn_callbacks cb = {
	        .warning = on_warning,
	        .token = on_token,
	        .done = on_done,
	        .ud = &st,
	};
	st.turn = chat_turn_start(o, question, &cb);
	struct event *sigint = evsignal_new(c->base, SIGINT, on_signal, &st);
	struct event *sigterm = evsignal_new(c->base, SIGTERM, on_signal, &st);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	while (!st.done) {
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	event_free(sigint);
	event_free(sigterm);
	end_thinking(&st);
	if (!st.res) {
		/* Stopped before the model was asked. */
		st.res = xcalloc(1, sizeof(*st.res));
		st.res->prompt_tokens = st.res->direct_prompt_tokens = -1;
	}
	if (!st.res->answer) {
		st.res->answer = llm_result_new(o->provider, o->model ? o->model : "");
		st.res->answer->ok = false;
		st.res->answer->cancelled = st.res->answer->truncated = true;
		err_set(&st.res->answer->err, ERR_CANCELLED, 0, "stopped before the answer began");
	}
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

static json_t *sources_json(const struct vector_store_hits *hits)
{
	json_t *a = json_array();
	for (size_t i = 0; i < hits->len; i++) {
		const struct vector_store_hit *h = &hits->items[i];
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer((json_int_t)h->id));
		json_object_set_new(o, "title", jtext(h->title, strlen(h->title)));
		json_object_set_new(o, "distance", json_real(h->distance));
		json_object_set_new(o, "source", jtext(h->source, strlen(h->source)));
		json_array_append_new(a, o);
	}
	return a;
}

static void print_json(const struct chat_turn_result *t)
{
	const struct llm_result *res = t->answer;
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
	json_object_set_new(root, "sources", sources_json(&t->sources));
	json_object_set_new(root, "cloud_tokens", json_integer(t->cloud_tokens));
	json_object_set_new(root, "local_tokens", json_integer(t->local_tokens));
	json_object_set_new(root, "cached", json_boolean(t->cached));
	if (t->pipeline) {
		json_t *rag = json_object();
		json_object_set_new(rag, "pipeline", json_string(t->pipeline));
		json_object_set_new(rag, "context_chars",
		                    json_integer((json_int_t)t->context_chars));
		json_object_set_new(rag, "direct_chars", json_integer((json_int_t)t->direct_chars));
		json_object_set_new(rag, "prompt_tokens",
		                    count_or_null(t->prompt_tokens >= 0, t->prompt_tokens));
		json_object_set_new(
		        rag, "direct_prompt_tokens",
		        count_or_null(t->direct_prompt_tokens >= 0, t->direct_prompt_tokens));
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
	{
		char *json = json_dumps(root, flags); /* C1 and bidi escaped (text_json_fputs) */
		text_json_fputs(json, stdout);
		free(json);
	}
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(root);
}

/* ---- the session -------------------------------------------------------------------------- */

static enum llm_role role_of(const char *s)
{
	return str_eq(s, "system")      ? LLM_ROLE_SYSTEM
	       : str_eq(s, "assistant") ? LLM_ROLE_ASSISTANT
	                                : LLM_ROLE_USER;
}

/* redis_is_away: err says the Redis server could not be reached (not a broken session). */
static bool redis_is_away(const struct err *err)
{
	return err->code == ERR_NETWORK || err->code == ERR_TIMEOUT || err->code == ERR_UNREACHABLE;
}

/* load_session reads the session called name; NULL (its exit status kept) when the store is
 * away: the chat then goes on without the history. A Redis that cannot be reached is left in
 * *away for the line after the answer (say_redis_away); any other failure is told at once. */
static struct session *load_session(struct cli *c, struct session_store *store, const char *name,
                                    bool redis, struct err *away)
{
	struct cli_session_wait w = {0};
	session_load(store, name, cli_session_loaded, &w);
	cli_wait_until(c, &w.done);
	if (!w.failed) {
		return w.session;
	}
	c->exit_status = err_worse_exit(c->exit_status, err_exit_status(w.err.code));
	session_destroy(w.session);
	if (redis && redis_is_away(&w.err)) {
		*away = w.err;
		return NULL;
	}
	char *why = text_sanitize(w.err.msg, false);
	fprintf(stderr, "labdeck: %s; answering without the session's history\n", why);
	free(why);
	return NULL;
}

/* say_redis_away tells, after the answer, that the session's Redis was away: what happened,
 * what to do, and that nothing was saved. */
static void say_redis_away(const struct err *away, bool answered)
{
	fflush(stdout); /* "the answer above": it is out before this line */
	char *why = text_sanitize(away->msg, false);
	if (answered) {
		fprintf(stderr,
		        "labdeck: %s; answered without the session's history: start redis-server "
		        "or fix [redis] url; the answer above was not saved\n",
		        why);
	} else {
		fprintf(stderr,
		        "labdeck: %s; the session's history could not be read: start redis-server "
		        "or fix [redis] url\n",
		        why);
	}
	free(why);
}

/* ---- the command -------------------------------------------------------------------------- */

int cli_chat(struct cli *c, int argc, char **argv)
{
	struct chat_args a;
	int rc = parse_args(c, argc, argv, &a);
	if (rc >= 0) {
		return rc;
	}
	struct redis_client *redis = NULL;
	if (c->cfg.redis.configured) {
		struct err e;
		redis = redis_client_create(c->base, c->cfg.redis.url, c->cfg.redis.password, &e);
		if (!redis) {
			cli_add_error(c, "redis", &e);
		}
	}
	struct session_store *store = a.session ? session_store_create(c->base, redis, NULL) : NULL;
	struct err away = {0};
	struct session *sess =
	        store ? load_session(c, store, a.session, redis != NULL, &away) : NULL;
	struct llm_cache *cache = NULL;
	if (redis && !a.no_cache && c->cfg.redis.cache_ttl > 0) {
		cache = llm_cache_create(c->base, redis, c->cfg.redis.cache_ttl);
	}

	/* The session's history goes before the question. */
	size_t n_hist = sess ? sess->len : 0;
	struct llm_message *hist = xcalloc(n_hist ? n_hist : 1, sizeof(*hist));
	for (size_t i = 0; i < n_hist; i++) {
		hist[i].role = role_of(sess->messages[i].role);
		hist[i].content = sess->messages[i].content;
	}
	struct llm *l = llm_create(c->http, &c->cfg);
	if (c->timeout_ms > 0) {
		llm_set_idle_timeout(l, c->timeout_ms);
	}
	struct chat_turn_opts o = {
	        .base = c->base,
	        .http = c->http,
	        .llm = l,
	        .cfg = &c->cfg,
	        .cache = cache,
	        .provider = a.provider,
	        .model = a.model,
	        .system = sess ? sess->system : NULL,
	        .history = hist,
	        .n_history = n_hist,
	        .rag = a.rag,
	        .timeout_ms = c->timeout_ms,
	};
	int stopped_by = 0;
	struct chat_turn_result *t = run_turn(c, &o, a.message, &stopped_by);
	const struct llm_result *res = t->answer;
	if (t->cached && !c->json && isatty(STDERR_FILENO)) {
		fputs("labdeck: (answered from the cache; --no-cache asks again)\n", stderr);
	}

	/* The session keeps the question (without the retrieved context) and the answer. */
	if (sess && res->ok) {
		session_set_meta(sess, llm_provider_name(a.provider), a.model, NULL);
		session_add(sess, "user", a.message);
		session_add(sess, "assistant", res->text);
		struct cli_session_wait w = {0};
		session_save(store, sess, cli_session_done, &w);
		cli_wait_until(c, &w.done);
		if (w.failed) {
			cli_add_error(c, "session", &w.err);
		}
	}

	int status = 0;
	if (c->json && stopped_by != SIGPIPE) {
		/* one object even when the turn failed: its "error" says why, stderr too */
		print_json(t);
	}
	if (away.code != ERR_NONE && !stopped_by) {
		say_redis_away(&away, res->ok);
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
		/* The answer came; a session that could not be saved says so. */
		cli_report_errors(c);
		status = c->exit_status;
	}
	chat_turn_result_free(t);
	llm_destroy(l);
	free(hist);
	llm_cache_destroy(cache);
	session_destroy(sess);
	session_store_destroy(store);
	redis_client_destroy(redis);
	free(a.message);
	return status;
}
