/* ssh.c: see ssh.h.
 *
 * One state machine per run. `step` advances it as far as it can; each libssh2 call that answers
 * LIBSSH2_ERROR_EAGAIN makes step arm the socket event in the directions
 * libssh2_session_block_directions() names and return; the event calls step again. Reading the
 * channel is bounded per pass (libssh2 may hold data already read from the socket, which would
 * never make it readable again), so a busy channel yields to the loop through a zero timer. */
#include "ssh.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <libssh2.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "resolve.h"
#include "util.h"

/* ---- pure helpers -------------------------------------------------------------------------- */

static char *b64(const unsigned char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

void ssh_fingerprint_sha256(const unsigned char *blob, size_t len, char *out, size_t size)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(blob, len, md);
	char *enc = b64(md, sizeof(md));
	size_t n = strlen(enc);
	while (n > 0 && enc[n - 1] == '=') {
		enc[--n] = '\0';
	}
	snprintf(out, size, "SHA256:%s", enc);
	free(enc);
}

char *ssh_host_pattern(const char *host, int port)
{
	if (port == 22 || port <= 0) {
		return xstrdup(host);
	}
	return xasprintf("[%s]:%d", host, port);
}

/* hashed_match: a "|1|SALT|HASH" host field against name (HMAC-SHA1 keyed with the salt). */
static bool hashed_match(const char *field, const char *name)
{
	const char *salt64 = field + 3;
	const char *bar = strchr(salt64, '|');
	if (!bar) {
		return false;
	}
	char *s = xstrndup(salt64, (size_t)(bar - salt64));
	size_t salt_len = 0;
	unsigned char *salt = base64_decode(s, &salt_len);
	free(s);
	if (!salt) {
		return false;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	HMAC(EVP_sha1(), salt, (int)salt_len, (const unsigned char *)name, strlen(name), md,
	     &md_len);
	free(salt);
	char *enc = b64(md, md_len);
	bool ok = strcmp(enc, bar + 1) == 0;
	free(enc);
	return ok;
}

/* wild_match: OpenSSH's host patterns, '*' and '?' only ('[' is an ordinary character: it
 * starts "[host]:port"), ASCII case ignored. */
static bool wild_match(const char *pat, const char *s)
{
	for (; *pat; pat++, s++) {
		if (*pat == '*') {
			for (const char *t = s;; t++) {
				if (wild_match(pat + 1, t)) {
					return true;
				}
				if (!*t) {
					return false;
				}
			}
		}
		if (!*s ||
		    (*pat != '?' && tolower((unsigned char)*pat) != tolower((unsigned char)*s))) {
			return false;
		}
	}
	return *s == '\0';
}

/* hosts_match: OpenSSH's host field (comma-separated patterns with * and ?, ! negates; or one
 * hashed name) against the pattern the host is known by. */
static bool hosts_match(const char *field, const char *name)
{
	if (str_has_prefix(field, "|1|")) {
		return hashed_match(field, name);
	}
	char *copy = xstrdup(field);
	bool yes = false, no = false;
	char *save = NULL;
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		bool neg = p[0] == '!';
		if (wild_match(neg ? p + 1 : p, name)) {
			*(neg ? &no : &yes) = true;
		}
	}
	free(copy);
	return yes && !no;
}

int ssh_known_hosts_line(const char *text, const char *host, int port, const char *type,
                         const char *key_b64)
{
	char *name = ssh_host_pattern(host, port);
	int found = 0, lineno = 0;
	const char *p = text;
	while (p && *p && !found) {
		lineno++;
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *line = xstrndup(p, n);
		p = end ? end + 1 : NULL;
		char *f[3] = {NULL, NULL, NULL};
		char *save = NULL;
		int nf = 0;
		for (char *w = strtok_r(line, " \t\r", &save); w && nf < 3;
		     w = strtok_r(NULL, " \t\r", &save)) {
			f[nf++] = w;
		}
		if (nf == 3 && f[0][0] != '#' && f[0][0] != '@' && strcmp(f[1], type) == 0 &&
		    hosts_match(f[0], name) && (!key_b64 || strcmp(f[2], key_b64) != 0)) {
			found = lineno;
		}
		free(line);
	}
	free(name);
	return found;
}

char *ssh_known_hosts_entry(const char *host, int port, const char *type, const unsigned char *blob,
                            size_t len)
{
	char *name = ssh_host_pattern(host, port);
	char *key = b64(blob, len);
	char *line = xasprintf("%s %s %s\n", name, type, key);
	free(name);
	free(key);
	return line;
}

char *ssh_join_command(int argc, char *const *argv)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < argc; i++) {
		if (i > 0) {
			buf_append(&b, " ", 1);
		}
		buf_append(&b, argv[i], strlen(argv[i]));
	}
	return buf_steal(&b);
}

/* openssh_cipher_is_none: the base64 body of an "OPENSSH PRIVATE KEY" starts with
 * "openssh-key-v1\0" and a string (4-byte length, bytes) naming the cipher. */
static bool openssh_encrypted(const char *text)
{
	const char *begin = strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----");
	const char *stop = strstr(text, "-----END OPENSSH PRIVATE KEY-----");
	if (!begin || !stop || stop < begin) {
		return false;
	}
	begin += strlen("-----BEGIN OPENSSH PRIVATE KEY-----");
	char *body = xstrndup(begin, (size_t)(stop - begin));
	size_t len = 0;
	unsigned char *raw = base64_decode(body, &len);
	free(body);
	static const char magic[] = "openssh-key-v1";
	bool enc = false;
	if (raw && len >= sizeof(magic) + 4 && memcmp(raw, magic, sizeof(magic)) == 0) {
		const unsigned char *q = raw + sizeof(magic);
		size_t n = ((size_t)q[0] << 24) | ((size_t)q[1] << 16) | ((size_t)q[2] << 8) | q[3];
		enc = !(n == 4 && sizeof(magic) + 4 + n <= len && memcmp(q + 4, "none", 4) == 0);
	}
	free(raw);
	return enc;
}

bool ssh_key_is_encrypted(const char *text)
{
	return openssh_encrypted(text) || strstr(text, "Proc-Type: 4,ENCRYPTED") ||
	       strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----");
}

int ssh_signal_number(const char *name)
{
	static const struct {
		const char *name;
		int num;
	} sigs[] = {{"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},   {"ABRT", 6},
	            {"FPE", 8},   {"KILL", 9},  {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},
	            {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (strcmp(sigs[i].name, name) == 0) {
			return sigs[i].num;
		}
	}
	return 0;
}

/* ---- the run ------------------------------------------------------------------------------- */

enum step_state {
	ST_RESOLVE,
	ST_CONNECT,
	ST_HANDSHAKE,
	ST_ASK, /* waiting for ssh_run_accept_key */
	ST_AUTH,
	ST_OPEN,
	ST_EXEC,
	ST_EOF,
	ST_READ,
	ST_CLOSE,
	ST_WAIT_CLOSED,
	ST_END,
};

struct ssh_run {
	struct event_base *base;
	const struct config_ssh_host *host;
	char *command;
	long timeout_ms;
	struct ssh_callbacks cb;
	enum step_state st;
	struct resolve_lookup *lookup;
	char *ip;
	int fd;
	struct event *io;      /* the socket, in the directions libssh2 waits for */
	struct event *kick;    /* a zero timer: go on without waiting for the socket */
	struct event *timeout; /* everything before the exec */
	LIBSSH2_SESSION *session;
	LIBSSH2_CHANNEL *channel;
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *identity; /* the agent's key being tried */
	bool agent_tried_any;
	int decision; /* ST_ASK: -1 waiting, 0 refused, 1 accepted */
	bool in_step, cancelled, finishing;
	struct ssh_result res;
};

static void step(struct ssh_run *r);

static void session_error(struct ssh_run *r, char *out, size_t size)
{
	char *msg = NULL;
	int len = 0;
	if (r->session) {
		libssh2_session_last_error(r->session, &msg, &len, 0);
	}
	snprintf(out, size, "%s", msg && len > 0 ? msg : "unknown error");
}

static const char *where(const struct ssh_run *r)
{
	static char buf[300];
	snprintf(buf, sizeof(buf), "%s:%d", r->host->host, r->host->port);
	return buf;
}

static void free_session(struct ssh_run *r)
{
	if (r->channel) {
		libssh2_session_set_blocking(r->session, 0);
		libssh2_channel_free(r->channel);
		r->channel = NULL;
	}
	if (r->agent) {
		libssh2_agent_disconnect(r->agent);
		libssh2_agent_free(r->agent);
		r->agent = NULL;
	}
	if (r->session) {
		/* A few bytes on a socket that took everything so far: bounded, rarely waits. */
		libssh2_session_set_timeout(r->session, 2000);
		libssh2_session_set_blocking(r->session, 1);
		libssh2_session_disconnect(r->session, "labdeck: done");
		libssh2_session_free(r->session);
		r->session = NULL;
	}
}

static void run_free(struct ssh_run *r)
{
	resolve_cancel(r->lookup);
	free_session(r);
	if (r->fd >= 0) {
		close(r->fd);
	}
	if (r->io) {
		event_free(r->io);
	}
	event_free(r->kick);
	event_free(r->timeout);
	free(r->ip);
	free(r->command);
	free(r);
}

/* finish ends the run: done, then the run is freed. */
static void finish(struct ssh_run *r)
{
	r->st = ST_END;
	r->finishing = true;
	event_del(r->timeout);
	if (r->cb.done) {
		r->cb.done(r->cb.ud, &r->res);
	}
	run_free(r);
}

__attribute__((format(printf, 3, 4))) static void fail(struct ssh_run *r, enum err_code code,
                                                       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	r->res.ok = false;
	err_set(&r->res.err, code, 0, "%s", msg);
	free(msg);
	finish(r);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	step(arg);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	step(arg);
}

static const char *state_name(enum step_state st)
{
	switch (st) {
	case ST_RESOLVE:
		return "looking up the address";
	case ST_CONNECT:
		return "connecting";
	case ST_HANDSHAKE:
		return "in the SSH handshake";
	case ST_AUTH:
		return "authenticating";
	default:
		return "starting the command";
	}
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct ssh_run *r = arg;
	fail(r, ERR_TIMEOUT, "%s: no answer within %.0f s (%s)", where(r), r->timeout_ms / 1000.0,
	     state_name(r->st));
}

/* wait_socket arms the socket event for what libssh2 (or the connect) waits for. */
static void wait_socket(struct ssh_run *r, short dirs)
{
	event_del(r->io);
	event_assign(r->io, r->base, r->fd, dirs, on_io, r);
	event_add(r->io, NULL);
}

static void wait_libssh2(struct ssh_run *r)
{
	int d = libssh2_session_block_directions(r->session);
	short dirs = 0;
	if (d & LIBSSH2_SESSION_BLOCK_INBOUND) {
		dirs |= EV_READ;
	}
	if (d & LIBSSH2_SESSION_BLOCK_OUTBOUND) {
		dirs |= EV_WRITE;
	}
	wait_socket(r, dirs ? dirs : EV_READ);
}

static void on_resolved(void *ud, const char *ip, const struct err *err)
{
	struct ssh_run *r = ud;
	r->lookup = NULL;
	if (!ip) {
		fail(r, err->code, "%s", err->msg);
		return;
	}
	r->ip = xstrdup(ip);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)r->host->port);
		sl = sizeof(*v4);
	} else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)r->host->port);
		sl = sizeof(*v6);
	} else {
		fail(r, ERR_UNREACHABLE, "%s: unusable address %s", where(r), ip);
		return;
	}
	r->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0) {
		fail(r, ERR_NETWORK, "%s: socket: %s", where(r), strerror(errno));
		return;
	}
	r->io = event_new(r->base, r->fd, EV_WRITE, on_io, r);
	r->st = ST_CONNECT;
	if (connect(r->fd, (struct sockaddr *)&ss, sl) == 0) {
		step(r);
	} else if (errno == EINPROGRESS) {
		wait_socket(r, EV_WRITE);
	} else {
		fail(r, ERR_UNREACHABLE, "cannot connect to %s: %s (is sshd running there?)",
		     where(r), strerror(errno));
	}
}

struct ssh_run *ssh_run_start(struct event_base *base, const struct config_ssh_host *host,
                              const char *command, long timeout_ms, const struct ssh_callbacks *cb)
{
	static bool inited;
	if (!inited) {
		libssh2_init(0);
		inited = true;
	}
	struct ssh_run *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->host = host;
	r->command = xstrdup(command);
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	r->cb = *cb;
	r->fd = -1;
	r->decision = -1;
	r->res.exit_status = -1;
	r->res.hostkey.known_hosts = host->known_hosts;
	r->st = ST_RESOLVE;
	r->kick = evtimer_new(base, on_kick, r);
	r->timeout = evtimer_new(base, on_timeout, r);
	struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
	event_add(r->timeout, &tv);
	r->lookup = resolve_start(base, host->host, on_resolved, r);
	return r;
}

void ssh_run_cancel(struct ssh_run *r)
{
	if (!r || r->finishing) {
		return;
	}
	if (r->in_step) {
		r->cancelled = true; /* step frees it when the callback returns */
		return;
	}
	run_free(r);
}

void ssh_run_accept_key(struct ssh_run *r, bool accept)
{
	if (r->st != ST_ASK || r->decision >= 0) {
		return;
	}
	r->decision = accept ? 1 : 0;
	if (!r->in_step) {
		step(r);
	}
}

/* ---- host keys ----------------------------------------------------------------------------- */

static const struct {
	int type;
	const char *name, *label;
	int kh;
} key_types[] = {
        {LIBSSH2_HOSTKEY_TYPE_RSA, "ssh-rsa", "RSA", LIBSSH2_KNOWNHOST_KEY_SSHRSA},
        {LIBSSH2_HOSTKEY_TYPE_DSS, "ssh-dss", "DSA", LIBSSH2_KNOWNHOST_KEY_SSHDSS},
        {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, "ecdsa-sha2-nistp256", "ECDSA",
         LIBSSH2_KNOWNHOST_KEY_ECDSA_256},
        {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, "ecdsa-sha2-nistp384", "ECDSA",
         LIBSSH2_KNOWNHOST_KEY_ECDSA_384},
        {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, "ecdsa-sha2-nistp521", "ECDSA",
         LIBSSH2_KNOWNHOST_KEY_ECDSA_521},
        {LIBSSH2_HOSTKEY_TYPE_ED25519, "ssh-ed25519", "ED25519", LIBSSH2_KNOWNHOST_KEY_ED25519},
};

static char *read_text(const char *path, int *err_no)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		*err_no = errno;
		return NULL;
	}
	struct buf b;
	buf_init(&b);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf_append(&b, chunk, n);
	}
	fclose(f);
	return buf_steal(&b);
}

/* check_hostkey: HK_GO on a known key, HK_ASK when the user was asked (r->st is ST_ASK),
 * HK_FAILED when the run has ended and is freed. */
enum hk_next { HK_GO, HK_ASK, HK_FAILED };

static enum hk_next check_hostkey(struct ssh_run *r)
{
	struct ssh_hostkey *hk = &r->res.hostkey;
	size_t len = 0;
	int type = 0;
	const char *key = libssh2_session_hostkey(r->session, &len, &type);
	if (!key) {
		fail(r, ERR_NETWORK, "%s: the server sent no host key", where(r));
		return HK_FAILED;
	}
	int kh_type = 0;
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		if (key_types[i].type == type) {
			snprintf(hk->type, sizeof(hk->type), "%s", key_types[i].name);
			snprintf(hk->label, sizeof(hk->label), "%s", key_types[i].label);
			kh_type = key_types[i].kh;
		}
	}
	ssh_fingerprint_sha256((const unsigned char *)key, len, hk->fingerprint,
	                       sizeof(hk->fingerprint));
	char *pattern = ssh_host_pattern(r->host->host, r->host->port);
	snprintf(hk->host_pattern, sizeof(hk->host_pattern), "%s", pattern);
	if (!kh_type) {
		free(pattern);
		fail(r, ERR_AUTH, "%s: host key of an unsupported type (%d)", where(r), type);
		return HK_FAILED;
	}
	int e = 0;
	char *text = read_text(r->host->known_hosts, &e);
	if (!text && e != ENOENT) {
		free(pattern);
		fail(r, ERR_CONFIG, "cannot read known_hosts %s: %s", r->host->known_hosts,
		     strerror(e));
		return HK_FAILED;
	}
	/* Line by line: libssh2's readfile stops at the first line it cannot parse (a
	 * @cert-authority line, a key type it does not know); those lines are skipped here. */
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(r->session);
	for (const char *p = text; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p + 1) : strlen(p);
		libssh2_knownhost_readline(kh, p, n, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
		p += n;
	}
	/* The pattern itself with no port: "[host]:port" entries only for a port other than 22,
	 * as OpenSSH looks them up (libssh2 would also try the plain name for any port). */
	struct libssh2_knownhost *found = NULL;
	int rc = libssh2_knownhost_checkp(
	        kh, pattern, -1, key, len,
	        LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | kh_type, &found);
	libssh2_knownhost_free(kh);
	free(pattern);
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
		free(text);
		hk->verdict = SSH_HOSTKEY_KNOWN;
		return HK_GO;
	}
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
		char *key64 = b64((const unsigned char *)key, len);
		hk->known_line =
		        ssh_known_hosts_line(text, r->host->host, r->host->port, hk->type, key64);
		free(key64);
		free(text);
		hk->verdict = SSH_HOSTKEY_CHANGED;
		char line[32] = "";
		if (hk->known_line > 0) {
			snprintf(line, sizeof(line), ":%d", hk->known_line);
		}
		fail(r, ERR_AUTH,
		     "REMOTE HOST IDENTIFICATION HAS CHANGED for %s: the server's %s key is %s, "
		     "not the one in %s%s; refused (remove that entry if the change is expected)",
		     hk->host_pattern, hk->label, hk->fingerprint, r->host->known_hosts, line);
		return HK_FAILED;
	}
	free(text);
	if (rc != LIBSSH2_KNOWNHOST_CHECK_NOTFOUND) {
		fail(r, ERR_AUTH, "%s: cannot check the host key against %s", where(r),
		     r->host->known_hosts);
		return HK_FAILED;
	}
	hk->verdict = SSH_HOSTKEY_UNKNOWN;
	r->st = ST_ASK;
	event_del(r->timeout); /* a person is reading the fingerprint */
	if (r->cb.unknown_key) {
		r->cb.unknown_key(r->cb.ud, r, hk);
	} else {
		r->decision = 0;
	}
	return HK_ASK;
}

/* append_hostkey: false when the run has failed (and is freed). */
static bool append_hostkey(struct ssh_run *r)
{
	struct ssh_hostkey *hk = &r->res.hostkey;
	size_t len = 0;
	int type = 0;
	const char *key = libssh2_session_hostkey(r->session, &len, &type);
	char *entry = ssh_known_hosts_entry(r->host->host, r->host->port, hk->type,
	                                    (const unsigned char *)key, len);
	const char *path = r->host->known_hosts;
	/* The directory (~/.ssh) as ssh makes it, private. */
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0700);
	}
	free(dir);
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	bool ok = fd >= 0;
	if (ok) {
		/* A file whose last line has no newline gets one first. */
		struct stat sb;
		char last = '\n';
		if (fstat(fd, &sb) == 0 && sb.st_size > 0 &&
		    pread(fd, &last, 1, sb.st_size - 1) != 1) {
			last = '\n';
		}
		if (last != '\n') {
			ok = write(fd, "\n", 1) == 1;
		}
		size_t n = strlen(entry);
		ok = ok && write(fd, entry, n) == (ssize_t)n;
		int e = errno;
		close(fd);
		errno = e;
	}
	free(entry);
	if (!ok) {
		fail(r, ERR_CONFIG, "cannot add the host key to %s: %s", path, strerror(errno));
		return false;
	}
	hk->verdict = SSH_HOSTKEY_ACCEPTED;
	r->st = ST_AUTH;
	struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
	event_add(r->timeout, &tv);
	return true;
}

/* ---- authentication ------------------------------------------------------------------------ */

/* auth_key_file: 1 done, 0 EAGAIN, -1 the run has failed. */
static int auth_key_file(struct ssh_run *r)
{
	const char *id = r->host->identity;
	int e = 0;
	char *text = read_text(id, &e);
	if (!text) {
		fail(r, ERR_CONFIG, "identity %s: %s", id, strerror(e));
		return -1;
	}
	bool enc = ssh_key_is_encrypted(text);
	explicit_bzero(text, strlen(text));
	free(text);
	if (enc) {
		fail(r, ERR_CONFIG,
		     "identity %s is protected by a passphrase, which this version cannot ask for: "
		     "load it into ssh-agent (ssh-add) and leave identity unset",
		     id);
		return -1;
	}
	char *pub = xasprintf("%s.pub", id);
	bool has_pub = access(pub, R_OK) == 0;
	int rc = libssh2_userauth_publickey_fromfile_ex(r->session, r->host->user,
	                                                (unsigned int)strlen(r->host->user),
	                                                has_pub ? pub : NULL, id, NULL);
	free(pub);
	if (rc == LIBSSH2_ERROR_EAGAIN) {
		return 0;
	}
	if (rc == 0) {
		return 1;
	}
	char msg[256];
	session_error(r, msg, sizeof(msg));
	if (rc == LIBSSH2_ERROR_FILE) {
		fail(r, ERR_CONFIG, "identity %s cannot be used: %s", id, msg);
	} else if (rc == LIBSSH2_ERROR_SOCKET_RECV || rc == LIBSSH2_ERROR_SOCKET_SEND ||
	           rc == LIBSSH2_ERROR_SOCKET_DISCONNECT) {
		fail(r, ERR_NETWORK, "%s: connection lost while authenticating: %s", where(r), msg);
	} else {
		fail(r, ERR_AUTH, "%s@%s refused the key %s (publickey): %s", r->host->user,
		     where(r), id, msg);
	}
	return -1;
}

/* auth_agent: the ssh-agent's keys in turn. 1 done, 0 EAGAIN, -1 failed. */
static int auth_agent(struct ssh_run *r)
{
	if (!r->agent) {
		const char *sock = getenv("SSH_AUTH_SOCK");
		if (!sock || !*sock) {
			fail(r, ERR_CONFIG,
			     "no identity for this host and no ssh-agent (SSH_AUTH_SOCK is unset): "
			     "set identity = PATH in its [ssh] section");
			return -1;
		}
		r->agent = libssh2_agent_init(r->session);
		if (!r->agent || libssh2_agent_connect(r->agent) != 0 ||
		    libssh2_agent_list_identities(r->agent) != 0) {
			fail(r, ERR_AUTH, "cannot use ssh-agent at %s", sock);
			return -1;
		}
		if (libssh2_agent_get_identity(r->agent, &r->identity, NULL) != 0) {
			fail(r, ERR_AUTH, "ssh-agent holds no key: add one with ssh-add");
			return -1;
		}
	}
	for (;;) {
		int rc = libssh2_agent_userauth(r->agent, r->host->user, r->identity);
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			return 0;
		}
		if (rc == 0) {
			return 1;
		}
		r->agent_tried_any = true;
		struct libssh2_agent_publickey *prev = r->identity;
		if (libssh2_agent_get_identity(r->agent, &r->identity, prev) != 0) {
			fail(r, ERR_AUTH, "%s@%s refused every key of ssh-agent (publickey)",
			     r->host->user, where(r));
			return -1;
		}
	}
}

/* ---- the state machine --------------------------------------------------------------------- */

/* lost: the connection broke after the login (sshd killed or restarted, the host gone): say so
 * plainly, with libssh2's reason in brackets. */
static void lost(struct ssh_run *r, const char *doing, const char *then)
{
	char msg[256];
	session_error(r, msg, sizeof(msg));
	fail(r, ERR_NETWORK, "%s: the connection was lost %s (%s); %s", where(r), doing, msg, then);
}

/* read_some: a bounded pass over stdout and stderr. 1 more to do now, 0 wait, -1 failed (and
 * freed), -2 cancelled from the output callback (not freed yet). */
static int read_some(struct ssh_run *r)
{
	char buf[16384];
	for (int pass = 0; pass < 32; pass++) {
		bool got = false;
		for (int stream = 0; stream < 2; stream++) {
			ssize_t n = libssh2_channel_read_ex(r->channel, stream, buf, sizeof(buf));
			if (n > 0) {
				got = true;
				if (r->cb.output) {
					r->cb.output(r->cb.ud, stream + 1, buf, (size_t)n);
				}
				if (r->cancelled) {
					return -2;
				}
			} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
				lost(r, "while the command ran", "it may still be running there");
				return -1;
			}
		}
		if (!got) {
			if (libssh2_channel_eof(r->channel)) {
				r->st = ST_CLOSE;
				return 1;
			}
			return 0;
		}
	}
	return 1; /* busy: let the loop breathe, come back at once */
}

static void exit_info(struct ssh_run *r)
{
	r->res.exit_status = libssh2_channel_get_exit_status(r->channel);
	char *sig = NULL;
	size_t sig_len = 0;
	libssh2_channel_get_exit_signal(r->channel, &sig, &sig_len, NULL, NULL, NULL, NULL);
	if (sig && sig_len > 0) {
		snprintf(r->res.exit_signal, sizeof(r->res.exit_signal), "%.*s", (int)sig_len, sig);
		r->res.exit_status = -1;
	}
	if (sig) {
		libssh2_free(r->session, sig);
	}
	r->res.ok = true;
}

static void step(struct ssh_run *r)
{
	r->in_step = true;
	for (;;) {
		int rc;
		switch (r->st) {
		case ST_RESOLVE:
		case ST_END:
			goto out;
		case ST_CONNECT: {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			if (soerr) {
				fail(r, ERR_UNREACHABLE,
				     "cannot connect to %s: %s (is sshd running there?)", where(r),
				     strerror(soerr));
				return;
			}
			r->session = libssh2_session_init();
			libssh2_session_set_blocking(r->session, 0);
			r->st = ST_HANDSHAKE;
			break;
		}
		case ST_HANDSHAKE:
			rc = libssh2_session_handshake(r->session, r->fd);
			if (rc == LIBSSH2_ERROR_EAGAIN) {
				wait_libssh2(r);
				goto out;
			}
			if (rc) {
				char msg[256];
				session_error(r, msg, sizeof(msg));
				fail(r, ERR_NETWORK,
				     "%s: the SSH handshake failed (%s): is it an SSH server?",
				     where(r), msg);
				return;
			}
			switch (check_hostkey(r)) {
			case HK_FAILED:
				return; /* and freed */
			case HK_ASK:
				if (r->cancelled) {
					goto out;
				}
				break; /* ST_ASK: the decision may already be in */
			case HK_GO:
				r->st = ST_AUTH;
				break;
			}
			break;
		case ST_ASK:
			if (r->decision < 0) {
				event_del(r->io);
				goto out;
			}
			if (r->decision == 0) {
				struct ssh_hostkey *hk = &r->res.hostkey;
				fail(r, ERR_AUTH,
				     "unknown host key for %s (%s %s), not in %s: refused; the "
				     "command "
				     "was not sent",
				     hk->host_pattern, hk->label, hk->fingerprint,
				     r->host->known_hosts);
				return;
			}
			if (!append_hostkey(r)) {
				return; /* failed and freed */
			}
			break;
		case ST_AUTH:
			rc = r->host->identity ? auth_key_file(r) : auth_agent(r);
			if (rc < 0) {
				return;
			}
			if (rc == 0) {
				wait_libssh2(r);
				goto out;
			}
			r->st = ST_OPEN;
			break;
		case ST_OPEN:
			r->channel = libssh2_channel_open_session(r->session);
			if (!r->channel) {
				if (libssh2_session_last_errno(r->session) ==
				    LIBSSH2_ERROR_EAGAIN) {
					wait_libssh2(r);
					goto out;
				}
				lost(r, "opening a session channel", "nothing was run");
				return;
			}
			r->st = ST_EXEC;
			break;
		case ST_EXEC:
			rc = libssh2_channel_exec(r->channel, r->command);
			if (rc == LIBSSH2_ERROR_EAGAIN) {
				wait_libssh2(r);
				goto out;
			}
			if (rc) {
				char msg[256];
				session_error(r, msg, sizeof(msg));
				fail(r, ERR_REJECTED, "%s refused to run the command: %s", where(r),
				     msg);
				return;
			}
			event_del(r->timeout); /* the command runs as long as it runs */
			r->st = ST_EOF;
			break;
		case ST_EOF:
			/* Standard input is not forwarded: the command reads end-of-file (ssh -n).
			 */
			rc = libssh2_channel_send_eof(r->channel);
			if (rc == LIBSSH2_ERROR_EAGAIN) {
				wait_libssh2(r);
				goto out;
			}
			r->st = ST_READ;
			break;
		case ST_READ:
			rc = read_some(r);
			if (rc == -2) {
				goto out;
			}
			if (rc < 0) {
				return; /* failed and freed */
			}
			if (rc == 0) {
				wait_libssh2(r);
				goto out;
			}
			if (r->st == ST_READ) {
				event_active(r->kick, EV_TIMEOUT, 0);
				event_del(r->io);
				goto out;
			}
			break;
		case ST_CLOSE:
			rc = libssh2_channel_close(r->channel);
			if (rc == LIBSSH2_ERROR_EAGAIN) {
				wait_libssh2(r);
				goto out;
			}
			r->st = ST_WAIT_CLOSED;
			break;
		case ST_WAIT_CLOSED:
			rc = libssh2_channel_wait_closed(r->channel);
			if (rc == LIBSSH2_ERROR_EAGAIN) {
				wait_libssh2(r);
				goto out;
			}
			exit_info(r);
			finish(r);
			return;
		}
	}
out:
	r->in_step = false;
	if (r->cancelled) {
		run_free(r);
	}
}
