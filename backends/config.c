/* config.c: see config.h. The text is handed to inih one line at a time by ini_reader.c,
 * which counts lines (Debian's inih handler has no line argument), strips indentation (so
 * inih's multi-line values never apply and git-style indented keys work) and reports the
 * [section] headers itself (inih truncates long ones and never reports empty sections). Its
 * problems (a NUL byte, an over-long line) are errors here, and syntax errors are inih's. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ini_reader.h"
#include "util.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define SECRET_FILE_MAX_BYTES (64 * 1024)
#define NO_OFF SIZE_MAX
#define VMID_MIN 100
#define VMID_MAX 999999999
#define OLLAMA_DEFAULT_URL "http://127.0.0.1:11434"

/* ---- the key tables ---------------------------------------------------------------------- */

enum value_type {
	V_STRING,
	V_PATH,    /* ~/ expanded */
	V_INT,     /* whole number in [min, max] */
	V_BOOL,    /* true/false/yes/no/on/off/1/0 */
	V_DOUBLE,  /* decimal number in [min, max] */
	V_URL,     /* http:// or https:// with a host, trailing '/' dropped */
	V_PVE_URL, /* V_URL, and a pasted /api2/json dropped too */
	V_REDIS_URL /* redis:// or rediss:// */,
	V_FINGERPRINT,
	V_TOKEN_ID,
	V_REPO,
	V_PIPELINE,
	V_KEEP_ALIVE,
	V_SQL_NAME,
	V_WORD, /* a non-empty value without spaces: host names */
};

struct key_spec {
	const char *name;
	enum value_type type;
	size_t off;   /* into struct config, struct config_tls or struct config_ssh_host */
	bool secret;  /* also K_env / K_file; the value never appears in a message */
	bool has_src; /* src_off holds an enum config_source: which form set the key */
	size_t src_off;
	const char *def; /* the default, as it would be written in the file; NULL: none */
	double min, max; /* V_INT, V_DOUBLE */
	const char *unit;
};

#define CO(m) offsetof(struct config, m)
#define HO(m) offsetof(struct config_ssh_host, m)
#define TO(m) offsetof(struct config_tls, m)
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct key_spec ui_keys[] = {
        {.name = "theme", .type = V_PATH, .off = CO(ui.theme), .def = "default"},
        {.name = "refresh",
         .type = V_INT,
         .off = CO(ui.refresh),
         .def = "5",
         .min = 1,
         .max = 3600,
         .unit = " (seconds)"},
        {.name = "readonly", .type = V_BOOL, .off = CO(ui.readonly)},
};

static const struct key_spec proxmox_keys[] = {
        {.name = "url", .type = V_PVE_URL, .off = CO(proxmox.url)},
        {.name = "token_id", .type = V_TOKEN_ID, .off = CO(proxmox.token_id)},
        {.name = "token_secret", .type = V_STRING, .off = CO(proxmox.token_secret), .secret = true},
};

static const struct key_spec kubernetes_keys[] = {
        {.name = "kubeconfig", .type = V_PATH, .off = CO(kubernetes.kubeconfig)},
        {.name = "context", .type = V_STRING, .off = CO(kubernetes.context)},
        {.name = "namespace", .type = V_STRING, .off = CO(kubernetes.namespace_)},
};

static const struct key_spec ollama_keys[] = {
        {.name = "url", .type = V_URL, .off = CO(ollama.url)},
        {.name = "chat_model",
         .type = V_STRING,
         .off = CO(ollama.chat_model),
         .def = "qwen2.5:14b"},
        {.name = "summary_model",
         .type = V_STRING,
         .off = CO(ollama.summary_model),
         .def = "exaone3.5:7.8b"},
        {.name = "embed_model", .type = V_STRING, .off = CO(ollama.embed_model), .def = "bge-m3"},
        {.name = "num_ctx",
         .type = V_INT,
         .off = CO(ollama.num_ctx),
         .def = "8192",
         .min = 512,
         .max = INT_MAX,
         .unit = " (tokens)"},
        {.name = "temperature",
         .type = V_DOUBLE,
         .off = CO(ollama.temperature),
         .min = 0,
         .max = 2},
        {.name = "keep_alive", .type = V_KEEP_ALIVE, .off = CO(ollama.keep_alive)},
};

static const struct key_spec gemini_keys[] = {
        {.name = "url",
         .type = V_URL,
         .off = CO(gemini.url),
         .def = "https://generativelanguage.googleapis.com"},
        {.name = "api_key",
         .type = V_STRING,
         .off = CO(gemini.api_key),
         .secret = true,
         .has_src = true,
         .src_off = CO(gemini.api_key_source)},
        {.name = "model", .type = V_STRING, .off = CO(gemini.model), .def = "gemini-2.5-pro"},
        {.name = "price_in",
         .type = V_DOUBLE,
         .off = CO(gemini.price_in),
         .def = "1.25",
         .min = 0,
         .max = HUGE_VAL,
         .unit = " (USD per million tokens)"},
        {.name = "price_out",
         .type = V_DOUBLE,
         .off = CO(gemini.price_out),
         .def = "10.0",
         .min = 0,
         .max = HUGE_VAL,
         .unit = " (USD per million tokens)"},
};

static const struct key_spec openai_keys[] = {
        {.name = "url", .type = V_URL, .off = CO(openai.url)},
        {.name = "model", .type = V_STRING, .off = CO(openai.model)},
        {.name = "api_key",
         .type = V_STRING,
         .off = CO(openai.api_key),
         .secret = true,
         .has_src = true,
         .src_off = CO(openai.api_key_source)},
};

static const struct key_spec rag_keys[] = {
        {.name = "postgres", .type = V_STRING, .off = CO(rag.postgres)},
        {.name = "table", .type = V_SQL_NAME, .off = CO(rag.table), .def = "rag_chunks"},
        {.name = "top_k", .type = V_INT, .off = CO(rag.top_k), .def = "5", .min = 1, .max = 100},
        {.name = "pipeline", .type = V_PIPELINE, .off = CO(rag.pipeline), .def = "condense"},
};

static const struct key_spec redis_keys[] = {
        {.name = "url", .type = V_REDIS_URL, .off = CO(redis.url)},
        {.name = "password", .type = V_STRING, .off = CO(redis.password), .secret = true},
        {.name = "cache_ttl",
         .type = V_INT,
         .off = CO(redis.cache_ttl),
         .def = "86400",
         .min = 0,
         .max = INT_MAX,
         .unit = " (seconds; 0 disables the cache)"},
};

static const struct key_spec argocd_keys[] = {
        {.name = "url", .type = V_URL, .off = CO(argocd.url)},
        {.name = "token", .type = V_STRING, .off = CO(argocd.token), .secret = true},
};

static const struct key_spec github_keys[] = {
        {.name = "url", .type = V_URL, .off = CO(github.url), .def = "https://api.github.com"},
        {.name = "repo", .type = V_REPO, .off = CO(github.repo)},
        {.name = "ref", .type = V_STRING, .off = CO(github.ref), .def = "main"},
        {.name = "token", .type = V_STRING, .off = CO(github.token), .secret = true},
};

static const struct key_spec airflow_keys[] = {
        {.name = "url", .type = V_URL, .off = CO(airflow.url)},
        {.name = "username", .type = V_STRING, .off = CO(airflow.username)},
        {.name = "password", .type = V_STRING, .off = CO(airflow.password), .secret = true},
};

static const struct key_spec discord_keys[] = {
        {.name = "webhook_url",
         .type = V_URL,
         .off = CO(discord.webhook_url),
         .secret = true,
         .has_src = true,
         .src_off = CO(discord.webhook_url_source)},
};

/* Relative to struct config_tls; accepted in every section with a tls_off. */
static const struct key_spec tls_keys[] = {
        {.name = "ca_file", .type = V_PATH, .off = TO(ca_file)},
        {.name = "fingerprint", .type = V_FINGERPRINT, .off = TO(fingerprint)},
        {.name = "insecure", .type = V_BOOL, .off = TO(insecure)},
};

/* Relative to struct config_ssh_host. user's default ($USER) and host's (the section's name)
 * are filled in by ssh_host_add and finish_checks. */
static const struct key_spec ssh_keys[] = {
        {.name = "host", .type = V_WORD, .off = HO(host)},
        {.name = "port", .type = V_INT, .off = HO(port), .def = "22", .min = 1, .max = 65535},
        {.name = "user", .type = V_WORD, .off = HO(user)},
        {.name = "identity", .type = V_PATH, .off = HO(identity)},
        {.name = "known_hosts",
         .type = V_PATH,
         .off = HO(known_hosts),
         .def = "~/.ssh/known_hosts"},
};

enum section_id {
	SEC_NONE, /* before the first [section] */
	SEC_UI,
	SEC_PROXMOX,
	SEC_KUBERNETES,
	SEC_OLLAMA,
	SEC_GEMINI,
	SEC_OPENAI,
	SEC_RAG,
	SEC_REDIS,
	SEC_ARGOCD,
	SEC_GITHUB,
	SEC_AIRFLOW,
	SEC_SSH,
	SEC_DISCORD,
	SEC_TOPOLOGY,
	SEC_KEYS,
	SEC_UNKNOWN, /* reported once; its keys are skipped */
	SEC_BAD,     /* a header line inih rejects as a syntax error */
	SEC_COUNT,
};

struct section_spec {
	enum section_id id;
	const char *name;
	const char *title; /* for "... so Proxmox stays unconfigured" */
	const struct key_spec *keys;
	size_t n_keys;
	size_t tls_off;        /* struct config_tls in struct config, or NO_OFF */
	size_t configured_off; /* bool in struct config, or NO_OFF */
	const char *required;  /* key that makes the backend configured; NULL: the section */
};

static const struct section_spec sections[] = {
        {SEC_UI, "ui", "the console", ui_keys, N_OF(ui_keys), NO_OFF, NO_OFF, NULL},
        {SEC_PROXMOX, "proxmox", "Proxmox", proxmox_keys, N_OF(proxmox_keys), CO(proxmox.tls),
         CO(proxmox.configured), "url"},
        {SEC_KUBERNETES, "kubernetes", "Kubernetes", kubernetes_keys, N_OF(kubernetes_keys), NO_OFF,
         CO(kubernetes.configured), NULL},
        {SEC_OLLAMA, "ollama", "Ollama", ollama_keys, N_OF(ollama_keys), NO_OFF,
         CO(ollama.configured), NULL},
        {SEC_GEMINI, "gemini", "Gemini", gemini_keys, N_OF(gemini_keys), NO_OFF,
         CO(gemini.configured), NULL},
        {SEC_OPENAI, "openai", "the OpenAI-compatible backend", openai_keys, N_OF(openai_keys),
         NO_OFF, CO(openai.configured), "url"},
        {SEC_RAG, "rag", "RAG", rag_keys, N_OF(rag_keys), NO_OFF, CO(rag.configured), NULL},
        {SEC_REDIS, "redis", "the Redis cache", redis_keys, N_OF(redis_keys), NO_OFF,
         CO(redis.configured), "url"},
        {SEC_ARGOCD, "argocd", "ArgoCD", argocd_keys, N_OF(argocd_keys), CO(argocd.tls),
         CO(argocd.configured), "url"},
        {SEC_GITHUB, "github", "GitHub Actions", github_keys, N_OF(github_keys), CO(github.tls),
         CO(github.configured), "repo"},
        {SEC_AIRFLOW, "airflow", "Airflow", airflow_keys, N_OF(airflow_keys), CO(airflow.tls),
         CO(airflow.configured), "url"},
        {SEC_SSH, "ssh", "ssh", ssh_keys, N_OF(ssh_keys), NO_OFF, NO_OFF, NULL},
        {SEC_DISCORD, "discord", "Discord", discord_keys, N_OF(discord_keys), NO_OFF,
         CO(discord.configured), "webhook_url"},
        {SEC_TOPOLOGY, "topology", "the topology", NULL, 0, NO_OFF, NO_OFF, NULL},
        {SEC_KEYS, "keys", "key overrides", NULL, 0, NO_OFF, NO_OFF, NULL},
};

static const struct section_spec *section_spec(enum section_id id)
{
	for (size_t i = 0; i < N_OF(sections); i++) {
		if (sections[i].id == id) {
			return &sections[i];
		}
	}
	return NULL;
}

static bool type_is_string(enum value_type t)
{
	return t != V_INT && t != V_BOOL && t != V_DOUBLE;
}

static void *field(void *base, const struct key_spec *k)
{
	return (char *)base + k->off;
}

/* ---- the parse state --------------------------------------------------------------------- */

enum form { FORM_PLAIN, FORM_ENV, FORM_FILE };

static const char *const form_suffix[] = {"", "_env", "_file"};

/* A key already set: for duplicates and for the lines of post-parse errors. */
struct seen {
	enum section_id sec;
	size_t host; /* index into cfg->ssh for SEC_SSH */
	char *key;   /* the base name (token_secret for token_secret_env) */
	enum form form;
	int line;
};

struct parse {
	struct config *cfg;
	const char *name;     /* the file, for messages */
	struct ini_reader rd; /* rd.line: the line inih is working on */

	enum section_id sec; /* current section */
	size_t host;         /* current ssh host when sec == SEC_SSH */
	int sec_line[SEC_COUNT];
	int *host_line; /* header line of each cfg->ssh[i] */

	struct seen *seen;
	size_t n_seen;

	bool failed;
	int fail_line;
	char fail_msg[sizeof(((struct err *)0)->msg)];

	const char *plain_secret; /* first secret written into the file itself */
	int plain_secret_line;
};

static void fail(struct parse *p, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void fail(struct parse *p, int line, const char *fmt, ...)
{
	if (p->failed) {
		return;
	}
	char msg[sizeof(p->fail_msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->failed = true;
	p->fail_line = line;
	if (line > 0) {
		snprintf(p->fail_msg, sizeof(p->fail_msg), "%s:%d: %s", p->name, line, msg);
	} else {
		snprintf(p->fail_msg, sizeof(p->fail_msg), "%s: %s", p->name, msg);
	}
}

static void add_warning(struct config *cfg, char *msg)
{
	cfg->warnings = xrealloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof(*cfg->warnings));
	cfg->warnings[cfg->n_warnings++] = msg;
}

static void warn(struct parse *p, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void warn(struct parse *p, int line, const char *fmt, ...)
{
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "%s:%d: ", p->name, line);
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	buf_append(&b, msg, strlen(msg));
	free(msg);
	add_warning(p->cfg, buf_steal(&b));
}

/* ---- small parsers ----------------------------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool parse_whole(const char *s, long long *out)
{
	const char *q = s;
	if (*q == '-' || *q == '+') {
		q++;
	}
	if (!is_digit(*q)) {
		return false;
	}
	for (; *q; q++) {
		if (!is_digit(*q)) {
			return false;
		}
	}
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if (errno != 0) {
		return false;
	}
	*out = v;
	return true;
}

/* parse_decimal reads [-+]DIGITS[.DIGITS] whatever LC_NUMERIC says (the console sets the
 * user's locale, and 1.25 must stay 1.25 under de_DE); no exponents, inf or nan. */
static bool parse_decimal(const char *s, double *out)
{
	const char *q = s;
	if (*q == '-' || *q == '+') {
		q++;
	}
	size_t digits = 0;
	while (is_digit(*q)) {
		q++;
		digits++;
	}
	if (*q == '.') {
		q++;
		while (is_digit(*q)) {
			q++;
			digits++;
		}
	}
	if (*q || digits == 0) {
		return false;
	}
	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	double v = c ? strtod_l(s, NULL, c) : strtod(s, NULL);
	if (c) {
		freelocale(c);
	}
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < N_OF(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool has_space_or_control(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == 0x7f) {
			return true;
		}
	}
	return false;
}

enum url_problem { URL_OK, URL_SCHEME, URL_HOST, URL_PORT, URL_CREDENTIALS, URL_PATH };

/* url_check checks SCHEME://HOST[:PORT][/PATH] for one of schemes and sets *path to where the
 * part after the authority starts. */
static enum url_problem url_check(const char *s, const char *const *schemes, size_t n_schemes,
                                  const char **path)
{
	if (has_space_or_control(s)) {
		return URL_SCHEME;
	}
	const char *sep = strstr(s, "://");
	if (!sep) {
		return URL_SCHEME;
	}
	bool known = false;
	for (size_t i = 0; i < n_schemes; i++) {
		if ((size_t)(sep - s) == strlen(schemes[i]) &&
		    strncasecmp(s, schemes[i], (size_t)(sep - s)) == 0) {
			known = true;
		}
	}
	if (!known) {
		return URL_SCHEME;
	}
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *end = auth + alen;
	if (memchr(auth, '@', alen)) {
		return URL_CREDENTIALS;
	}
	const char *port = NULL;
	if (alen > 0 && auth[0] == '[') {
		const char *rb = memchr(auth, ']', alen);
		if (!rb || rb == auth + 1) {
			return URL_HOST;
		}
		if (rb + 1 < end) {
			if (rb[1] != ':') {
				return URL_HOST;
			}
			port = rb + 2;
		}
	} else {
		const char *colon = memchr(auth, ':', alen);
		if (colon) {
			port = colon + 1;
			end = colon;
		}
		if (end == auth) {
			return URL_HOST;
		}
		end = auth + alen;
	}
	if (port) {
		long v = 0;
		if (port == end) {
			return URL_PORT;
		}
		for (const char *q = port; q < end; q++) {
			if (!is_digit(*q) || v > 65535) {
				return URL_PORT;
			}
			v = v * 10 + (*q - '0');
		}
		if (v < 1 || v > 65535) {
			return URL_PORT;
		}
	}
	*path = end;
	return URL_OK;
}

/* strip_trailing_slashes drops '/' at the end, but never into the authority. */
static void strip_trailing_slashes(char *s, size_t min_len)
{
	size_t n = strlen(s);
	while (n > min_len && s[n - 1] == '/') {
		s[--n] = '\0';
	}
}

static bool is_hex_string(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (hex_digit(s[i]) < 0) {
			return false;
		}
	}
	return true;
}

/* fingerprint_normalise accepts AA:BB:.. (32 bytes, any case), 64 hex digits, and openssl's
 * "sha256 Fingerprint=AA:BB:..."; it returns upper-case colon-separated or NULL. */
static char *fingerprint_normalise(const char *s)
{
	const char *eq = strchr(s, '=');
	if (eq && strncasecmp(s, "sha256", 6) == 0) {
		s = eq + 1;
	}
	while (*s == ' ') {
		s++;
	}
	unsigned char bytes[32];
	size_t len = strlen(s);
	if (len == 64 && is_hex_string(s, 64)) {
		for (size_t i = 0; i < 32; i++) {
			bytes[i] =
			        (unsigned char)(hex_digit(s[2 * i]) * 16 + hex_digit(s[2 * i + 1]));
		}
	} else if (len == 32 * 3 - 1) {
		for (size_t i = 0; i < 32; i++) {
			const char *q = s + 3 * i;
			if (!is_hex_string(q, 2) || (i < 31 && q[2] != ':')) {
				return NULL;
			}
			bytes[i] = (unsigned char)(hex_digit(q[0]) * 16 + hex_digit(q[1]));
		}
	} else {
		return NULL;
	}
	char *out = xmalloc(32 * 3);
	for (size_t i = 0; i < 32; i++) {
		snprintf(out + 3 * i, 4, "%02X%s", bytes[i], i < 31 ? ":" : "");
	}
	return out;
}

/* USER@REALM!TOKENID, each part non-empty. */
static bool token_id_ok(const char *s)
{
	const char *at = strchr(s, '@');
	const char *bang = strchr(s, '!');
	return at && bang && at > s && bang > at + 1 && bang[1] && !has_space_or_control(s);
}

static bool repo_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	return slash && slash > s && slash[1] && !strchr(slash + 1, '/') &&
	       !has_space_or_control(s);
}

/* A number of seconds or a Go duration (Ollama's keep_alive): 5m, 1h30m, 300ms, -1, 0. */
static bool keep_alive_ok(const char *s)
{
	static const char *const units[] = {"ns", "us", "\xc2\xb5s", "ms", "s", "m", "h"};
	const char *q = s;
	if (*q == '-' || *q == '+') {
		q++;
	}
	long long whole;
	if (parse_whole(s, &whole)) {
		return true;
	}
	if (!*q) {
		return false;
	}
	while (*q) {
		if (!is_digit(*q) && *q != '.') {
			return false;
		}
		size_t digits = 0;
		while (is_digit(*q)) {
			q++;
			digits++;
		}
		if (*q == '.') {
			q++;
			while (is_digit(*q)) {
				q++;
				digits++;
			}
		}
		if (digits == 0) {
			return false;
		}
		size_t best = 0;
		for (size_t i = 0; i < N_OF(units); i++) {
			size_t n = strlen(units[i]);
			if (strncmp(q, units[i], n) == 0 && n > best) {
				best = n;
			}
		}
		if (best == 0) {
			return false;
		}
		q += best;
	}
	return true;
}

static bool sql_name_part_ok(const char *s, size_t n)
{
	if (n == 0 || is_digit(s[0])) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(is_digit(c) || c == '_' || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z'))) {
			return false;
		}
	}
	return true;
}

static bool sql_name_ok(const char *s)
{
	const char *dot = strchr(s, '.');
	if (!dot) {
		return sql_name_part_ok(s, strlen(s));
	}
	return sql_name_part_ok(s, (size_t)(dot - s)) && sql_name_part_ok(dot + 1, strlen(dot + 1));
}

static bool env_name_ok(const char *s)
{
	if (!*s || is_digit(*s)) {
		return false;
	}
	for (; *s; s++) {
		char c = *s;
		if (!(is_digit(c) || c == '_' || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z'))) {
			return false;
		}
	}
	return true;
}

/* A name we may print: the usual upper-case spelling. Anything else (a token pasted by
 * mistake into K_env looks like "ghp_x1Y2...") is not repeated in a message. */
static bool env_name_printable(const char *s)
{
	size_t n = 0;
	for (; *s; s++, n++) {
		if (*s >= 'a' && *s <= 'z') {
			return false;
		}
	}
	return n <= 64;
}

/* ---- setting values ---------------------------------------------------------------------- */

/* set_value stores the non-empty value s in k's field of base; on a bad value it writes the
 * problem (never the value of a secret) into why. */
static bool set_value(const struct key_spec *k, void *base, const char *s, char *why, size_t n)
{
	void *f = field(base, k);
	const char *kn = k->name;
	char shown[96];
	if (k->secret) {
		shown[0] = '\0';
	} else {
		snprintf(shown, sizeof(shown), ", not '%.80s'", s);
	}
	char *str = NULL;
	switch (k->type) {
	case V_STRING:
		str = xstrdup(s);
		break;
	case V_PATH:
		str = path_expand(s);
		break;
	case V_WORD:
		if (has_space_or_control(s)) {
			snprintf(why, n, "%s must be one word without spaces%s", kn, shown);
			return false;
		}
		str = xstrdup(s);
		break;
	case V_INT: {
		long long v;
		if (!parse_whole(s, &v) || v < (long long)k->min || v > (long long)k->max) {
			if (k->max >= INT_MAX) {
				snprintf(why, n, "%s must be a whole number >= %.0f%s%s", kn,
				         k->min, k->unit ? k->unit : "", shown);
			} else {
				snprintf(why, n, "%s must be a whole number from %.0f to %.0f%s%s",
				         kn, k->min, k->max, k->unit ? k->unit : "", shown);
			}
			return false;
		}
		*(int *)f = (int)v;
		return true;
	}
	case V_BOOL: {
		bool v;
		if (!parse_bool(s, &v)) {
			snprintf(why, n, "%s must be true or false (or yes/no, on/off, 1/0)%s", kn,
			         shown);
			return false;
		}
		*(bool *)f = v;
		return true;
	}
	case V_DOUBLE: {
		double v;
		if (!parse_decimal(s, &v) || v < k->min || v > k->max) {
			if (isinf(k->max)) {
				snprintf(why, n, "%s must be a number >= %g%s%s", kn, k->min,
				         k->unit ? k->unit : "", shown);
			} else {
				snprintf(why, n, "%s must be a number from %g to %g%s%s", kn,
				         k->min, k->max, k->unit ? k->unit : "", shown);
			}
			return false;
		}
		*(double *)f = v;
		return true;
	}
	case V_URL:
	case V_PVE_URL:
	case V_REDIS_URL: {
		static const char *const http[] = {"http", "https"};
		static const char *const redis[] = {"redis", "rediss"};
		bool is_redis = k->type == V_REDIS_URL;
		const char *path = NULL;
		enum url_problem up = is_redis ? url_check(s, redis, N_OF(redis), &path)
		                               : url_check(s, http, N_OF(http), &path);
		if (up == URL_OK && is_redis && *path) {
			const char *q = path + 1;
			while (is_digit(*q)) {
				q++;
			}
			if (path[0] != '/' || (*q && strcmp(q, "/") != 0)) {
				up = URL_PATH;
			}
		}
		switch (up) {
		case URL_OK:
			break;
		case URL_CREDENTIALS:
			snprintf(why, n,
			         "%s must not carry a user or password (user:password@host); use "
			         "the password or token keys for those",
			         kn);
			return false;
		case URL_PORT:
			snprintf(why, n, "%s has a bad port (1 to 65535)%s", kn, shown);
			return false;
		default:
			if (is_redis) {
				snprintf(why, n,
				         "%s must look like redis://HOST:PORT/DB (rediss:// for "
				         "TLS)%s",
				         kn, shown);
			} else {
				snprintf(why, n,
				         "%s must be an http:// or https:// URL with a host%s", kn,
				         shown);
			}
			return false;
		}
		size_t keep = (size_t)(path - s);
		str = xstrdup(s);
		for (char *c = str; *c != ':'; c++) {
			*c = (char)tolower((unsigned char)*c); /* HTTPS:// works, but looks odd */
		}
		strip_trailing_slashes(str, keep);
		if (k->type == V_PVE_URL) {
			static const char api[] = "/api2/json";
			size_t len = strlen(str);
			if (len >= keep + sizeof(api) - 1 &&
			    strcasecmp(str + len - (sizeof(api) - 1), api) == 0) {
				str[len - (sizeof(api) - 1)] = '\0';
				strip_trailing_slashes(str, keep);
			}
		}
		break;
	}
	case V_FINGERPRINT:
		str = fingerprint_normalise(s);
		if (!str) {
			snprintf(why, n,
			         "fingerprint must be 32 bytes of SHA-256 as AA:BB:..., as Proxmox "
			         "shows it");
			return false;
		}
		break;
	case V_TOKEN_ID:
		if (!token_id_ok(s)) {
			snprintf(why, n,
			         "%s must look like USER@REALM!TOKENID, e.g. root@pam!labdeck%s",
			         kn, shown);
			return false;
		}
		str = xstrdup(s);
		break;
	case V_REPO:
		if (!repo_ok(s)) {
			snprintf(why, n, "%s must be OWNER/NAME, e.g. octocat/hello-world%s", kn,
			         shown);
			return false;
		}
		str = xstrdup(s);
		break;
	case V_PIPELINE:
		if (strcmp(s, "condense") != 0 && strcmp(s, "direct") != 0) {
			snprintf(why, n, "%s must be condense or direct%s", kn, shown);
			return false;
		}
		str = xstrdup(s);
		break;
	case V_KEEP_ALIVE:
		if (!keep_alive_ok(s)) {
			snprintf(
			        why, n,
			        "%s must be a duration such as 5m, 1h or 30s, a number of seconds, "
			        "or -1 to keep the model loaded%s",
			        kn, shown);
			return false;
		}
		str = xstrdup(s);
		break;
	case V_SQL_NAME:
		if (!sql_name_ok(s)) {
			snprintf(why, n,
			         "%s must be a SQL name (letters, digits and _, optionally "
			         "schema.table)%s",
			         kn, shown);
			return false;
		}
		str = xstrdup(s);
		break;
	}
	char **sf = f;
	free(*sf);
	*sf = str;
	return true;
}

/* reset_key puts k back to its default ("key =" means not set). */
static void reset_key(const struct key_spec *k, void *base)
{
	void *f = field(base, k);
	if (type_is_string(k->type)) {
		char **sf = f;
		free(*sf);
		*sf = NULL;
	} else if (k->type == V_INT) {
		*(int *)f = 0;
	} else if (k->type == V_BOOL) {
		*(bool *)f = false;
	} else {
		*(double *)f = NAN;
	}
	if (k->def) {
		char why[8];
		set_value(k, base, k->def, why, sizeof(why));
	}
}

static void free_keys(const struct key_spec *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		if (type_is_string(keys[i].type)) {
			char **sf = field(base, &keys[i]);
			if (keys[i].secret && *sf) {
				explicit_bzero(*sf, strlen(*sf));
			}
			free(*sf);
			*sf = NULL;
		}
	}
}

/* ---- defaults ---------------------------------------------------------------------------- */

static void set_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OF(sections); i++) {
		if (sections[i].id == SEC_SSH) {
			continue;
		}
		for (size_t j = 0; j < sections[i].n_keys; j++) {
			reset_key(&sections[i].keys[j], cfg);
		}
	}
	cfg->topology.ollama_vmid = -1;
}

/* ollama_url_from_env follows Ollama's envconfig.Host(): no scheme means http and port 11434,
 * an explicit http:// or https:// without a port means 80 or 443, a path is kept, quotes and
 * spaces are dropped, and the bind-all address means loopback. NULL when unset. */
static char *ollama_url_from_env(void)
{
	const char *env = getenv("OLLAMA_HOST");
	if (!env) {
		return NULL;
	}
	char *s = xstrdup(env);
	str_trim(s);
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '"' || s[n - 1] == '\'')) {
		s[--n] = '\0';
	}
	const char *v = s;
	while (*v == '"' || *v == '\'') {
		v++;
	}
	if (!*v) {
		free(s);
		return NULL;
	}
	const char *scheme = "http";
	const char *port = "11434";
	const char *hostport = v;
	char *scheme_buf = NULL;
	const char *sep = strstr(v, "://");
	if (sep) {
		scheme_buf = xstrndup(v, (size_t)(sep - v));
		scheme = scheme_buf;
		hostport = sep + 3;
		if (strcmp(scheme, "http") == 0) {
			port = "80";
		} else if (strcmp(scheme, "https") == 0) {
			port = "443";
		}
	}
	size_t hp_len = strcspn(hostport, "/");
	const char *path = hostport + hp_len;
	char *hp = xstrndup(hostport, hp_len);
	char *host = NULL;
	char *explicit_port = NULL;
	if (hp[0] == '[') {
		char *rb = strchr(hp, ']');
		if (rb) {
			host = xstrndup(hp + 1, (size_t)(rb - hp - 1));
			if (rb[1] == ':' && rb[2]) {
				explicit_port = xstrdup(rb + 2);
			}
		} else {
			host = xstrdup(hp);
		}
	} else {
		char *colon = strchr(hp, ':');
		if (colon && !strchr(colon + 1, ':')) {
			host = xstrndup(hp, (size_t)(colon - hp));
			if (colon[1]) {
				explicit_port = xstrdup(colon + 1);
			}
		} else {
			host = xstrdup(hp); /* a bare IPv6 address, or a name */
		}
	}
	if (explicit_port) {
		long long pv;
		if (parse_whole(explicit_port, &pv) && pv >= 0 && pv <= 65535) {
			port = explicit_port;
		}
	}
	if (!*host || strcmp(host, "0.0.0.0") == 0) {
		free(host);
		host = xstrdup("127.0.0.1");
	} else if (strcmp(host, "::") == 0) {
		free(host);
		host = xstrdup("::1");
	}
	bool v6 = strchr(host, ':') != NULL;
	char *url = xasprintf("%s://%s%s%s:%s%s", scheme, v6 ? "[" : "", host, v6 ? "]" : "", port,
	                      path);
	strip_trailing_slashes(url, strlen(url) - strlen(path));
	free(explicit_port);
	free(host);
	free(hp);
	free(scheme_buf);
	free(s);
	return url;
}

/* ---- sections ---------------------------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63) {
		return SIZE_MAX;
	}
	size_t prev[64], cur[64];
	for (size_t j = 0; j <= lb; j++) {
		prev[j] = j;
	}
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1;
			size_t ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

struct suggest {
	const char *word;
	char best[64];
	size_t dist;
};

static void suggest_try(struct suggest *sg, const char *candidate, const char *suffix)
{
	char full[64];
	snprintf(full, sizeof(full), "%s%s", candidate, suffix);
	size_t d = edit_distance(sg->word, full);
	if (d < sg->dist && d <= 2 && d < strlen(full)) {
		sg->dist = d;
		snprintf(sg->best, sizeof(sg->best), "%s", full);
	}
}

static void section_unknown(struct parse *p, const char *name)
{
	struct suggest sg = {.word = name, .dist = SIZE_MAX};
	for (size_t i = 0; i < N_OF(sections); i++) {
		suggest_try(&sg, sections[i].name, "");
	}
	if (sg.best[0]) {
		warn(p, p->rd.line,
		     "unknown section [%s] (did you mean [%s]?); its keys are ignored", name,
		     sg.best);
	} else {
		warn(p, p->rd.line, "unknown section [%s]; its keys are ignored", name);
	}
}

static void ssh_host_add(struct parse *p, char *name)
{
	struct config *cfg = p->cfg;
	cfg->ssh = xrealloc(cfg->ssh, (cfg->n_ssh + 1) * sizeof(*cfg->ssh));
	p->host_line = xrealloc(p->host_line, (cfg->n_ssh + 1) * sizeof(*p->host_line));
	struct config_ssh_host *h = &cfg->ssh[cfg->n_ssh];
	memset(h, 0, sizeof(*h));
	h->name = name;
	for (size_t i = 0; i < N_OF(ssh_keys); i++) {
		reset_key(&ssh_keys[i], h);
	}
	const char *user = getenv("USER");
	h->user = xstrdup(user && *user ? user : "root");
	p->host_line[cfg->n_ssh] = p->rd.line;
	p->host = cfg->n_ssh++;
}

/* section_ssh handles a header that starts with "ssh": [ssh "NAME"]. */
static void section_ssh(struct parse *p, const char *s)
{
	const char *q = s + 3;
	while (*q == ' ' || *q == '\t') {
		q++;
	}
	const char *close = *q == '"' ? strchr(q + 1, '"') : NULL;
	const char *after = close ? close + 1 : NULL;
	while (after && (*after == ' ' || *after == '\t')) {
		after++;
	}
	if (!close || close == q + 1 || *after) {
		fail(p, p->rd.line,
		     "an ssh section is written [ssh \"NAME\"], e.g. [ssh \"node-a\"]");
		p->sec = SEC_BAD;
		return;
	}
	char *name = xstrndup(q + 1, (size_t)(close - q - 1));
	if (has_space_or_control(name)) {
		fail(p, p->rd.line, "the name in [ssh \"%s\"] must be one word without spaces",
		     name);
		free(name);
		p->sec = SEC_BAD;
		return;
	}
	for (size_t i = 0; i < p->cfg->n_ssh; i++) {
		if (strcmp(p->cfg->ssh[i].name, name) == 0) {
			fail(p, p->rd.line,
			     "[ssh \"%s\"] appears twice (first on line %d); give each host its "
			     "own name",
			     name, p->host_line[i]);
			free(name);
			p->sec = SEC_BAD;
			return;
		}
	}
	p->sec = SEC_SSH;
	ssh_host_add(p, name);
}

/* section_begin is called by the reader for a "[...]" line; text is what sits between the
 * brackets (len bytes). */
static void section_begin(void *ud, const char *text, size_t len)
{
	struct parse *p = ud;
	char *s = str_trim(xstrndup(text, len));
	if (p->failed) {
		p->sec = SEC_BAD; /* nothing more is recorded; secrets are noted by the handler */
		for (size_t i = 0; i < N_OF(sections); i++) {
			if (strcmp(s, sections[i].name) == 0) {
				p->sec = sections[i].id;
			}
		}
		free(s);
		return;
	}
	if (strncmp(s, "ssh", 3) == 0 &&
	    (s[3] == '\0' || s[3] == ' ' || s[3] == '\t' || s[3] == '"')) {
		section_ssh(p, s);
		free(s);
		return;
	}
	for (size_t i = 0; i < N_OF(sections); i++) {
		if (strcmp(s, sections[i].name) == 0) {
			p->sec = sections[i].id;
			if (!p->sec_line[p->sec]) {
				p->sec_line[p->sec] = p->rd.line;
			}
			free(s);
			return;
		}
	}
	p->sec = SEC_UNKNOWN;
	section_unknown(p, s);
	free(s);
}

/* reader_problem is called by the reader for a bad line. */
static void reader_problem(void *ud, int line, enum ini_reader_problem what, const char *msg)
{
	struct parse *p = ud;
	if (what == INI_READER_UNCLOSED) {
		p->sec = SEC_BAD; /* inih reports the syntax error */
	} else {
		fail(p, line, "%s", msg);
	}
}

/* ---- keys -------------------------------------------------------------------------------- */

struct key_ref {
	const struct key_spec *k;
	enum form form;
	void *base;
};

static bool lookup_in(const struct key_spec *keys, size_t n, void *base, const char *name,
                      struct key_ref *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct key_spec *k = &keys[i];
		if (strcmp(name, k->name) == 0) {
			*out = (struct key_ref){k, FORM_PLAIN, base};
			return true;
		}
		if (!k->secret) {
			continue;
		}
		size_t kl = strlen(k->name);
		if (strncmp(name, k->name, kl) != 0) {
			continue;
		}
		for (int f = FORM_ENV; f <= FORM_FILE; f++) {
			if (strcmp(name + kl, form_suffix[f]) == 0) {
				*out = (struct key_ref){k, (enum form)f, base};
				return true;
			}
		}
	}
	return false;
}

static bool lookup_key(struct parse *p, const char *name, struct key_ref *out)
{
	const struct section_spec *s = section_spec(p->sec);
	if (!s || !s->keys) {
		return false;
	}
	void *base = p->cfg;
	if (p->sec == SEC_SSH) {
		if (p->host >= p->cfg->n_ssh) {
			return false;
		}
		base = &p->cfg->ssh[p->host];
	}
	if (lookup_in(s->keys, s->n_keys, base, name, out)) {
		return true;
	}
	if (s->tls_off != NO_OFF) {
		return lookup_in(tls_keys, N_OF(tls_keys), (char *)p->cfg + s->tls_off, name, out);
	}
	return false;
}

static const char *section_label(struct parse *p, char *buf, size_t n)
{
	if (p->sec == SEC_SSH && p->host < p->cfg->n_ssh) {
		snprintf(buf, n, "[ssh \"%s\"]", p->cfg->ssh[p->host].name);
	} else {
		const struct section_spec *s = section_spec(p->sec);
		snprintf(buf, n, "[%s]", s ? s->name : "?");
	}
	return buf;
}

static void unknown_key(struct parse *p, const char *name)
{
	const struct section_spec *s = section_spec(p->sec);
	struct suggest sg = {.word = name, .dist = SIZE_MAX};
	for (size_t i = 0; s && i < s->n_keys; i++) {
		suggest_try(&sg, s->keys[i].name, "");
		if (s->keys[i].secret) {
			suggest_try(&sg, s->keys[i].name, "_env");
			suggest_try(&sg, s->keys[i].name, "_file");
		}
	}
	for (size_t i = 0; s && s->tls_off != NO_OFF && i < N_OF(tls_keys); i++) {
		suggest_try(&sg, tls_keys[i].name, "");
	}
	char label[96];
	section_label(p, label, sizeof(label));
	if (sg.best[0]) {
		warn(p, p->rd.line, "unknown key '%s' in %s (did you mean '%s'?)", name, label,
		     sg.best);
	} else {
		warn(p, p->rd.line, "unknown key '%s' in %s", name, label);
	}
}

static struct seen *seen_find(struct parse *p, const char *key)
{
	for (size_t i = 0; i < p->n_seen; i++) {
		struct seen *e = &p->seen[i];
		if (e->sec == p->sec && e->host == p->host && strcmp(e->key, key) == 0) {
			return e;
		}
	}
	return NULL;
}

static struct seen *seen_find_in(struct parse *p, enum section_id sec, const char *key)
{
	for (size_t i = 0; i < p->n_seen; i++) {
		if (p->seen[i].sec == sec && strcmp(p->seen[i].key, key) == 0) {
			return &p->seen[i];
		}
	}
	return NULL;
}

/* note_seen records key; a second plain setting is a warning (the last one counts), two forms
 * of one secret are an error. False when it failed. */
static bool note_seen(struct parse *p, const char *key, enum form form, bool secret)
{
	struct seen *e = seen_find(p, key);
	if (!e) {
		p->seen = xrealloc(p->seen, (p->n_seen + 1) * sizeof(*p->seen));
		p->seen[p->n_seen++] =
		        (struct seen){p->sec, p->host, xstrdup(key), form, p->rd.line};
		return true;
	}
	char label[96];
	section_label(p, label, sizeof(label));
	if (secret && e->form != form) {
		fail(p, p->rd.line,
		     "%s is given twice in %s: as %s%s on line %d and as %s%s here; keep one", key,
		     label, key, form_suffix[e->form], e->line, key, form_suffix[form]);
		return false;
	}
	warn(p, p->rd.line, "'%s' in %s was already set on line %d; this later one counts", key,
	     label, e->line);
	e->line = p->rd.line;
	e->form = form;
	return true;
}

static void strip_line_end(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) {
		s[--n] = '\0';
	}
}

/* secret_from_file reads the first line of the file a K_file key names. */
static bool secret_from_file(struct parse *p, const char *key, const char *value, char **out)
{
	char *path = path_expand(value);
	/* A bare word may be the secret itself, pasted into the wrong key: never repeat it. */
	bool printable = strchr(value, '/') != NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (printable) {
			fail(p, p->rd.line, "%s_file: cannot read %s: %s", key, path, strerror(e));
		} else {
			fail(p, p->rd.line,
			     "%s_file: cannot read the file it names (%s); give a path such as "
			     "~/.config/labdeck/%s",
			     key, strerror(e), key);
		}
		free(path);
		return false;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH))) {
		fail(p, p->rd.line,
		     "%s_file: %s holds a secret and is readable by others; run chmod 600 %s", key,
		     path, path);
		close(fd);
		free(path);
		return false;
	}
	struct buf b;
	buf_init(&b);
	char chunk[4096];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			int e = errno;
			fail(p, p->rd.line, "%s_file: cannot read %s: %s", key, path, strerror(e));
			close(fd);
			buf_finish(&b);
			free(path);
			return false;
		}
		if (r == 0) {
			break;
		}
		buf_append(&b, chunk, (size_t)r);
		if (memchr(chunk, '\n', (size_t)r) || b.len > SECRET_FILE_MAX_BYTES) {
			break;
		}
	}
	close(fd);
	char *line = buf_steal(&b);
	char *nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
	}
	strip_line_end(line);
	if (!*line) {
		warn(p, p->rd.line, "%s_file: %s is empty, so %s is not set", key, path, key);
		free(line);
		line = NULL;
	}
	free(path);
	*out = line;
	return true;
}

/* secret_value resolves a secret key's value for its form into *out (NULL: not set). */
static bool secret_value(struct parse *p, const struct key_ref *r, const char *value, char **out)
{
	const char *key = r->k->name;
	*out = NULL;
	if (!*value) {
		return true;
	}
	switch (r->form) {
	case FORM_PLAIN:
		*out = xstrdup(value);
		return true;
	case FORM_ENV: {
		if (!env_name_ok(value)) {
			fail(p, p->rd.line,
			     "%s_env must be the name of an environment variable (letters, digits "
			     "and _), not the secret itself",
			     key);
			return false;
		}
		const char *v = getenv(value);
		if (!v || !*v) {
			if (env_name_printable(value)) {
				warn(p, p->rd.line, "%s_env: environment variable %s is %s", key,
				     value, v ? "empty" : "not set");
			} else {
				warn(p, p->rd.line,
				     "%s_env: the environment variable it names is %s", key,
				     v ? "empty" : "not set");
			}
			return true;
		}
		*out = xstrdup(v);
		strip_line_end(*out);
		return true;
	}
	case FORM_FILE:
		return secret_from_file(p, key, value, out);
	}
	return true;
}

static void table_key(struct parse *p, const struct key_ref *r, const char *value)
{
	const struct key_spec *k = r->k;
	if (!note_seen(p, k->name, r->form, k->secret)) {
		return;
	}
	char *owned = NULL;
	const char *v = value;
	if (k->secret) {
		if (!secret_value(p, r, value, &owned)) {
			return;
		}
		err_secret_add(owned); /* never in a message from here on */
		v = owned ? owned : "";
	}
	enum config_source *src =
	        k->has_src ? (enum config_source *)((char *)r->base + k->src_off) : NULL;
	if (!*v) {
		reset_key(k, r->base);
		if (src) {
			*src = CONFIG_SOURCE_NONE;
		}
		free(owned);
		return;
	}
	char why[300];
	if (src) {
		*src = r->form == FORM_ENV    ? CONFIG_SOURCE_ENV
		       : r->form == FORM_FILE ? CONFIG_SOURCE_FILE
		                              : CONFIG_SOURCE_PLAIN;
	}
	if (!set_value(k, r->base, v, why, sizeof(why))) {
		if (r->form != FORM_PLAIN) {
			fail(p, p->rd.line, "%s (read via %s%s) %s", k->name, k->name,
			     form_suffix[r->form], why + strlen(k->name) + 1);
		} else {
			fail(p, p->rd.line, "%s", why);
		}
	}
	if (owned) {
		explicit_bzero(owned, strlen(owned));
	}
	free(owned);
}

static void ssh_command(struct parse *p, const char *name, const char *value)
{
	struct config_ssh_host *h = &p->cfg->ssh[p->host];
	const char *cmd = name + strlen("command.");
	if (!*cmd) {
		warn(p, p->rd.line, "'%s' needs a name: command.NAME = COMMAND; ignored", name);
		return;
	}
	if (!note_seen(p, name, FORM_PLAIN, false)) {
		return;
	}
	size_t i = 0;
	while (i < h->n_commands && strcmp(h->commands[i].name, cmd) != 0) {
		i++;
	}
	if (!*value) {
		if (i < h->n_commands) {
			free(h->commands[i].name);
			free(h->commands[i].command);
			memmove(&h->commands[i], &h->commands[i + 1],
			        (h->n_commands - i - 1) * sizeof(*h->commands));
			h->n_commands--;
		}
		return;
	}
	if (i == h->n_commands) {
		h->commands = xrealloc(h->commands, (h->n_commands + 1) * sizeof(*h->commands));
		h->commands[i].name = xstrdup(cmd);
		h->commands[i].command = NULL;
		h->n_commands++;
	}
	free(h->commands[i].command);
	h->commands[i].command = xstrdup(value);
}

static void topology_key(struct parse *p, const char *name, const char *value)
{
	struct config_topology *t = &p->cfg->topology;
	if (!note_seen(p, name, FORM_PLAIN, false)) {
		return;
	}
	long long vmid = -1;
	if (*value && (!parse_whole(value, &vmid) || vmid < VMID_MIN || vmid > VMID_MAX)) {
		fail(p, p->rd.line,
		     "%s must be a Proxmox VMID (a whole number from %d to %d), not '%.80s'", name,
		     VMID_MIN, VMID_MAX, value);
		return;
	}
	if (strcmp(name, "ollama") == 0) {
		t->ollama_vmid = (int)vmid;
		return;
	}
	size_t i = 0;
	while (i < t->n_map && strcmp(t->map[i].node, name) != 0) {
		i++;
	}
	if (!*value) {
		if (i < t->n_map) {
			free(t->map[i].node);
			memmove(&t->map[i], &t->map[i + 1], (t->n_map - i - 1) * sizeof(*t->map));
			t->n_map--;
		}
		return;
	}
	if (i == t->n_map) {
		t->map = xrealloc(t->map, (t->n_map + 1) * sizeof(*t->map));
		t->map[i].node = xstrdup(name);
		t->n_map++;
	}
	t->map[i].vmid = (int)vmid;
}

static void keys_key(struct parse *p, const char *name, const char *value)
{
	struct config *cfg = p->cfg;
	const char *dot = strchr(name, '.');
	if (!dot || dot == name || !dot[1]) {
		warn(p, p->rd.line,
		     "[keys] entries are VIEW.KEY = ACTION (e.g. pods.l = logs); '%s' is ignored",
		     name);
		return;
	}
	if (!note_seen(p, name, FORM_PLAIN, false)) {
		return;
	}
	size_t vlen = (size_t)(dot - name);
	size_t i = 0;
	while (i < cfg->n_keys &&
	       !(strlen(cfg->keys[i].view) == vlen && strncmp(cfg->keys[i].view, name, vlen) == 0 &&
	         strcmp(cfg->keys[i].key, dot + 1) == 0)) {
		i++;
	}
	if (!*value) {
		if (i < cfg->n_keys) {
			free(cfg->keys[i].view);
			free(cfg->keys[i].key);
			free(cfg->keys[i].action);
			memmove(&cfg->keys[i], &cfg->keys[i + 1],
			        (cfg->n_keys - i - 1) * sizeof(*cfg->keys));
			cfg->n_keys--;
		}
		return;
	}
	if (i == cfg->n_keys) {
		cfg->keys = xrealloc(cfg->keys, (cfg->n_keys + 1) * sizeof(*cfg->keys));
		cfg->keys[i].view = xstrndup(name, vlen);
		cfg->keys[i].key = xstrdup(dot + 1);
		cfg->keys[i].action = NULL;
		cfg->n_keys++;
	}
	free(cfg->keys[i].action);
	cfg->keys[i].action = xstrdup(value);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	(void)section; /* the reader follows sections itself */
	struct key_ref r;
	bool known = lookup_key(p, name, &r);
	if (known && r.k->secret && r.form == FORM_PLAIN && *value && !p->plain_secret) {
		p->plain_secret = r.k->name;
		p->plain_secret_line = p->rd.line;
	}
	if (p->failed) {
		return 1;
	}
	switch (p->sec) {
	case SEC_NONE:
		warn(p, p->rd.line, "'%s' is outside any [section]; ignored", name);
		return 1;
	case SEC_UNKNOWN:
	case SEC_BAD:
		return 1;
	case SEC_TOPOLOGY:
		topology_key(p, name, value);
		return 1;
	case SEC_KEYS:
		keys_key(p, name, value);
		return 1;
	case SEC_SSH:
		if (!known && str_has_prefix(name, "command.")) {
			ssh_command(p, name, value);
			return 1;
		}
		break;
	default:
		break;
	}
	if (!known) {
		unknown_key(p, name);
		return 1;
	}
	table_key(p, &r, value);
	return 1;
}

/* ---- after the last line ----------------------------------------------------------------- */

static void finish_checks(struct parse *p)
{
	struct config *cfg = p->cfg;
	for (size_t i = 0; i < N_OF(sections) && !p->failed; i++) {
		const struct section_spec *s = &sections[i];
		int line = p->sec_line[s->id];
		if (!line) {
			continue;
		}
		bool configured = true;
		if (s->required) {
			struct key_ref r;
			lookup_in(s->keys, s->n_keys, cfg, s->required, &r);
			configured = *(char **)field(cfg, r.k) != NULL;
			if (!configured && !seen_find_in(p, s->id, s->required)) {
				warn(p, line, "[%s] has no %s, so %s stays unconfigured", s->name,
				     s->required, s->title);
			}
		}
		if (s->configured_off != NO_OFF) {
			*(bool *)((char *)cfg + s->configured_off) = configured;
		}
		if (s->id == SEC_PROXMOX && cfg->proxmox.url && !cfg->proxmox.token_id) {
			fail(p, line, "[proxmox] needs token_id (USER@REALM!TOKENID)");
		}
		if (s->tls_off != NO_OFF) {
			struct config_tls *tls = (struct config_tls *)((char *)cfg + s->tls_off);
			struct seen *ins = seen_find_in(p, s->id, "insecure");
			struct seen *fp = seen_find_in(p, s->id, "fingerprint");
			if (tls->insecure && tls->fingerprint) {
				fail(p, ins->line > fp->line ? ins->line : fp->line,
				     "[%s] has both fingerprint and insecure = true: a pinned "
				     "certificate is checked, an insecure one is not; keep one",
				     s->name);
			} else if (tls->insecure) {
				warn(p, ins->line,
				     "[%s] insecure = true: TLS certificates are not verified",
				     s->name);
			}
		}
	}
	for (size_t i = 0; i < cfg->n_ssh; i++) {
		if (!cfg->ssh[i].host) {
			cfg->ssh[i].host = xstrdup(cfg->ssh[i].name);
		}
	}
}

static void finish_ollama_url(struct config *cfg)
{
	if (cfg->ollama.url) {
		return;
	}
	char *url = ollama_url_from_env();
	const char *path;
	static const char *const http[] = {"http", "https"};
	if (url && url_check(url, http, N_OF(http), &path) != URL_OK) {
		add_warning(cfg, xasprintf("OLLAMA_HOST is not a usable address; using %s",
		                           OLLAMA_DEFAULT_URL));
		free(url);
		url = NULL;
	}
	cfg->ollama.url = url ? url : xstrdup(OLLAMA_DEFAULT_URL);
}

static void parse_free(struct parse *p)
{
	for (size_t i = 0; i < p->n_seen; i++) {
		free(p->seen[i].key);
	}
	free(p->seen);
	free(p->host_line);
}

/* load_text parses text (len bytes) named name; st is the file's stat for the mode check, or
 * NULL. On failure cfg is freed. */
static bool load_text(struct config *cfg, const char *name, const char *text, size_t len,
                      const struct stat *st, struct err *err)
{
	struct parse p = {.cfg = cfg, .name = name, .sec = SEC_NONE};
	ini_reader_init(&p.rd, text, len, false, section_begin, reader_problem, &p);
	int r = text ? ini_parse_stream(ini_reader_read, &p.rd, handler, &p) : 0;
	if (st && p.plain_secret && (st->st_mode & (S_IRWXG | S_IRWXO))) {
		err_set(err, ERR_CONFIG, 0,
		        "%s: holds a secret (%s, line %d) and is readable by group or others; run "
		        "chmod 600 %s",
		        name, p.plain_secret, p.plain_secret_line, name);
		parse_free(&p);
		config_finish(cfg);
		return false;
	}
	if (r != 0 && (!p.failed || r < p.fail_line)) {
		p.failed = false;
		if (r > 0) {
			fail(&p, r, "syntax error: expected 'key = value' or '[section]'");
		} else {
			fail(&p, 0, "cannot be parsed (inih error %d)", r);
		}
	}
	if (!p.failed) {
		finish_checks(&p);
	}
	parse_free(&p);
	if (p.failed) {
		err_set(err, ERR_CONFIG, 0, "%s", p.fail_msg);
		config_finish(cfg);
		return false;
	}
	finish_ollama_url(cfg);
	return true;
}

/* ---- public ------------------------------------------------------------------------------ */

static bool path_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

char *config_find(const char *explicit_path)
{
	if (explicit_path && *explicit_path) {
		return path_expand(explicit_path);
	}
	const char *env = getenv("LABDECK_CONFIG");
	if (env && *env) {
		return path_expand(env);
	}
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && xdg[0] == '/') { /* the XDG spec ignores relative values */
		char *path = xasprintf("%s/labdeck/config.ini", xdg);
		if (path_exists(path)) {
			return path;
		}
		free(path);
	}
	const char *home = getenv("HOME");
	if (home && *home) {
		char *path = xasprintf("%s/.config/labdeck/config.ini", home);
		if (path_exists(path)) {
			return path;
		}
		free(path);
	}
	return NULL;
}

bool config_load(struct config *cfg, const char *path, struct err *err)
{
	set_defaults(cfg);
	if (!path) {
		finish_ollama_url(cfg);
		return true;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		config_finish(cfg);
		return err_set(err, ERR_CONFIG, 0, "%s: %s", path, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		config_finish(cfg);
		return err_set(err, ERR_CONFIG, 0, "%s: %s", path, strerror(e));
	}
	struct buf b;
	buf_init(&b);
	char chunk[8192];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			int e = errno;
			close(fd);
			buf_finish(&b);
			config_finish(cfg);
			return err_set(err, ERR_CONFIG, 0, "%s: %s", path, strerror(e));
		}
		if (r == 0) {
			break;
		}
		buf_append(&b, chunk, (size_t)r);
		if (b.len > CONFIG_MAX_BYTES) {
			close(fd);
			buf_finish(&b);
			config_finish(cfg);
			return err_set(err, ERR_CONFIG, 0,
			               "%s: larger than %d bytes; is this the config file?", path,
			               CONFIG_MAX_BYTES);
		}
	}
	close(fd);
	cfg->path = xstrdup(path);
	bool ok = load_text(cfg, path, b.data, b.len, &st, err);
	buf_finish(&b);
	return ok;
}

bool config_load_string(struct config *cfg, const char *name, const char *text, struct err *err)
{
	set_defaults(cfg);
	const char *n = name ? name : "<string>";
	cfg->path = xstrdup(n);
	return load_text(cfg, n, text, text ? strlen(text) : 0, NULL, err);
}

void config_finish(struct config *cfg)
{
	if (!cfg) {
		return;
	}
	for (size_t i = 0; i < N_OF(sections); i++) {
		const struct section_spec *s = &sections[i];
		if (s->id == SEC_SSH) {
			continue;
		}
		free_keys(s->keys, s->n_keys, cfg);
		if (s->tls_off != NO_OFF) {
			free_keys(tls_keys, N_OF(tls_keys), (char *)cfg + s->tls_off);
		}
	}
	for (size_t i = 0; i < cfg->n_ssh; i++) {
		struct config_ssh_host *h = &cfg->ssh[i];
		free(h->name);
		free_keys(ssh_keys, N_OF(ssh_keys), h);
		for (size_t j = 0; j < h->n_commands; j++) {
			free(h->commands[j].name);
			free(h->commands[j].command);
		}
		free(h->commands);
	}
	free(cfg->ssh);
	for (size_t i = 0; i < cfg->topology.n_map; i++) {
		free(cfg->topology.map[i].node);
	}
	free(cfg->topology.map);
	for (size_t i = 0; i < cfg->n_keys; i++) {
		free(cfg->keys[i].view);
		free(cfg->keys[i].key);
		free(cfg->keys[i].action);
	}
	free(cfg->keys);
	for (size_t i = 0; i < cfg->n_warnings; i++) {
		free(cfg->warnings[i]);
	}
	free(cfg->warnings);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

const char *config_source_suffix(enum config_source src)
{
	return src == CONFIG_SOURCE_ENV ? "_env" : src == CONFIG_SOURCE_FILE ? "_file" : "";
}
