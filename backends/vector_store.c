/* vector_store.c: see vector_store.h. The PostgreSQL side runs each call as a list of statements
 * sent one after the other with PQsendQueryParams on a non-blocking connection, the socket
 * watched by one libevent event; a failure inside a transaction sends ROLLBACK before the call
 * reports. The local side works in memory and completes from the loop through the same "kick"
 * event, so callers see one behaviour. */
#include "vector_store.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <locale.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolve.h"
#include "vector_scan.h"
#include "util.h"

#define TIMEOUT_MS 30000
#define TABLE_NAME_MAX 48
#define INSERT_ROWS 64

enum op_kind { OP_NONE, OP_OPEN, OP_LOOKUP, OP_REPLACE, OP_QUERY, OP_FLUSH };

/* --- the local index, in memory --- */

struct local_file {
	char *source, *hash, *model;
};

struct local_chunk {
	int64_t id;
	uint32_t file, index;
	char *title, *text;
	float *vec;
	double norm;
};

struct local_index {
	char *path;
	int lock_fd;
	uint32_t dim;
	int64_t next_id;
	struct local_file *files;
	size_t n_files;
	struct local_chunk *chunks;
	size_t n_chunks;
	bool dirty;       /* replaced since the last save */
	int64_t saved_ms; /* when it was last saved (or opened) */
	/* A reader does not load the index: it streams it (vector_scan.h), in constant memory. */
	bool streaming;
	struct vector_scan scan;
};

/* --- PostgreSQL --- */

struct step {
	char *sql;
	char **params;
	int n_params;
	bool keep; /* its rows are the call's result */
};

struct pg {
	PGconn *conn;
	char *host, *port;
	PQconninfoOption *opts;        /* the parsed conninfo, until connected */
	struct resolve_lookup *lookup; /* the name lookup in flight, or NULL */
	struct event *ev;
	int ev_fd;
	short ev_what;
	bool connecting, broken, table_exists;
	struct step *steps;
	size_t n_steps, cur;
	bool failed, in_txn, rolling_back;
	struct err err;
	PGresult *kept;
};

struct vector_store {
	struct event_base *base;
	bool local;
	char *table;
	char *describe;
	long timeout_ms;
	size_t dim;
	struct event *kick;  /* completes a call from the loop */
	struct event *timer; /* PostgreSQL: the deadline of what is in flight */
	struct err kick_err;
	bool kick_failed;
	/* the call in flight */
	enum op_kind op;
	vector_store_done_fn done;
	void *ud;
	struct vector_store_file *file_out;
	struct vector_store_hits *hits_out;
	char *what; /* "storing FILE", for messages */
	size_t new_dim;
	struct local_index idx;
	struct pg pg;
};

/* --- completing calls --- */

static void complete(struct vector_store *vs, const struct err *err)
{
	vector_store_done_fn done = vs->done;
	void *ud = vs->ud;
	vs->op = OP_NONE;
	vs->done = NULL;
	vs->file_out = NULL;
	vs->hits_out = NULL;
	if (vs->timer) {
		evtimer_del(vs->timer);
	}
	if (done) {
		done(ud, err); /* may close vs: nothing after this */
	}
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct vector_store *vs = arg;
	struct err e = vs->kick_err;
	complete(vs, vs->kick_failed ? &e : NULL);
}

/* complete_later reports the call's end from the loop (never from inside the caller). */
static void complete_later(struct vector_store *vs, const struct err *err)
{
	vs->kick_failed = err != NULL;
	if (err) {
		vs->kick_err = *err;
	} else {
		err_clear(&vs->kick_err);
	}
	/* The deadline no longer applies: without this, a timeout due in the same loop pass
	 * would end the call a second time. */
	if (vs->timer) {
		evtimer_del(vs->timer);
	}
	event_active(vs->kick, EV_TIMEOUT, 0);
}

static void begin_call(struct vector_store *vs, enum op_kind op, vector_store_done_fn done,
                       void *ud)
{
	if (vs->op != OP_NONE) {
		fputs("labdeck: internal error: a vector store call while another runs\n", stderr);
		abort();
	}
	vs->done = done;
	vs->ud = ud;
	vs->op = op;
}

/* --- names, paths, numbers --- */

static bool table_name_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > TABLE_NAME_MAX ||
	    !((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z') || t[0] == '_')) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_')) {
			return false;
		}
	}
	return true;
}

char *vector_store_default_path(void)
{
	const char *state = getenv("XDG_STATE_HOME");
	if (state && state[0] == '/') {
		return xasprintf("%s/labdeck/rag-index.bin", state);
	}
	return path_expand("~/.local/state/labdeck/rag-index.bin");
}

/* The C locale for numbers, whatever LC_NUMERIC the program runs with. */
static locale_t c_locale(void)
{
	static locale_t loc;
	if (!loc) {
		loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	}
	return loc;
}

char *vector_store_vector_text(const float *v, size_t dim)
{
	locale_t old = uselocale(c_locale());
	struct buf b;
	buf_init(&b);
	buf_append(&b, "[", 1);
	for (size_t i = 0; i < dim; i++) {
		buf_appendf(&b, "%s%.9g", i ? "," : "", (double)v[i]);
	}
	buf_append(&b, "]", 1);
	uselocale(old);
	return buf_steal(&b);
}

char *vector_store_content_hash(const void *data, size_t len)
{
	unsigned char sum[SHA256_DIGEST_LENGTH];
	SHA256(data, len, sum);
	char *out = xmalloc(7 + 2 * SHA256_DIGEST_LENGTH + 1);
	memcpy(out, "sha256:", 7);
	for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		snprintf(out + 7 + 2 * i, 3, "%02x", sum[i]);
	}
	return out;
}

static double c_strtod(const char *s)
{
	locale_t old = uselocale(c_locale());
	double d = strtod(s, NULL);
	uselocale(old);
	return d;
}

void vector_store_file_finish(struct vector_store_file *f)
{
	if (!f) {
		return;
	}
	free(f->hash);
	free(f->model);
	memset(f, 0, sizeof(*f));
}

void vector_store_hits_finish(struct vector_store_hits *h)
{
	if (!h) {
		return;
	}
	for (size_t i = 0; i < h->len; i++) {
		free(h->items[i].source);
		free(h->items[i].title);
		free(h->items[i].text);
	}
	free(h->items);
	h->items = NULL;
	h->len = 0;
}

void vector_store_hits_add(struct vector_store_hits *h, int64_t id, const char *source,
                           const char *title, const char *text, double distance)
{
	h->items = xrealloc(h->items, (h->len + 1) * sizeof(*h->items));
	struct vector_store_hit *x = &h->items[h->len++];
	x->id = id;
	x->source = xstrdup(source ? source : "");
	x->title = xstrdup(title ? title : "");
	x->text = xstrdup(text ? text : "");
	x->distance = distance;
}

static bool dim_mismatch(const struct vector_store *vs, size_t dim, const char *model,
                         struct err *err)
{
	return err_set(err, ERR_CONFIG, 0,
	               "rag: %s holds embeddings of %zu numbers, but %s gives %zu: ingest into "
	               "another [rag] table (or index file) or go back to the model used before",
	               vs->describe, vs->dim, model ? model : "the embedding model", dim);
}

/* ===================================== the local index ===================================== */

static void put_u32(struct buf *b, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	buf_append(b, x, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	put_u32(b, (uint32_t)n);
	buf_append(b, s, n);
}

static void put_f32(struct buf *b, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put_u32(b, u);
}

/* A bounded reader: every get fails once the data runs out. */
struct reader {
	const unsigned char *p;
	size_t left;
	const char *why;
};

static bool get_u32(struct reader *r, uint32_t *v)
{
	if (r->left < 4) {
		r->why = "it ends too early";
		return false;
	}
	*v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
	     (uint32_t)r->p[3] << 24;
	r->p += 4;
	r->left -= 4;
	return true;
}

static bool get_u64(struct reader *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (!get_u32(r, &lo) || !get_u32(r, &hi)) {
		return false;
	}
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

static bool get_str(struct reader *r, char **s)
{
	uint32_t n;
	if (!get_u32(r, &n)) {
		return false;
	}
	if (n > r->left) {
		r->why = "a string runs past the end";
		return false;
	}
	if (memchr(r->p, 0, n)) {
		r->why = "a string holds a NUL byte";
		return false;
	}
	*s = xstrndup((const char *)r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

static double vec_norm(const float *v, size_t dim)
{
	double s = 0;
	for (size_t i = 0; i < dim; i++) {
		s += (double)v[i] * v[i];
	}
	return sqrt(s);
}

static void local_clear(struct local_index *x)
{
	for (size_t i = 0; i < x->n_files; i++) {
		free(x->files[i].source);
		free(x->files[i].hash);
		free(x->files[i].model);
	}
	free(x->files);
	for (size_t i = 0; i < x->n_chunks; i++) {
		free(x->chunks[i].title);
		free(x->chunks[i].text);
		free(x->chunks[i].vec);
	}
	free(x->chunks);
	x->files = NULL;
	x->chunks = NULL;
	x->n_files = x->n_chunks = 0;
	x->dim = 0;
	x->next_id = 1;
}

static const char MAGIC[8] = {'L', 'D', 'R', 'A', 'G', 'I', 'X', '1'};
#define LOCAL_VERSION 1
#define LOCAL_MAX_DIM 65536

static bool local_parse(struct local_index *x, const unsigned char *data, size_t len,
                        struct err *err)
{
	struct reader r = {.p = data, .left = len, .why = NULL};
	uint32_t version, dim, n_files, n_chunks;
	uint64_t next_id;
	if (len < sizeof(MAGIC) + SHA256_DIGEST_LENGTH || memcmp(data, MAGIC, sizeof(MAGIC)) != 0) {
		r.why = "it is not a labdeck index";
		goto bad;
	}
	unsigned char sum[SHA256_DIGEST_LENGTH];
	SHA256(data, len - SHA256_DIGEST_LENGTH, sum);
	if (memcmp(sum, data + len - SHA256_DIGEST_LENGTH, SHA256_DIGEST_LENGTH) != 0) {
		r.why = "its checksum does not match";
		goto bad;
	}
	r.p += sizeof(MAGIC);
	r.left -= sizeof(MAGIC) + SHA256_DIGEST_LENGTH;
	if (!get_u32(&r, &version) || !get_u32(&r, &dim) || !get_u64(&r, &next_id) ||
	    !get_u32(&r, &n_files) || !get_u32(&r, &n_chunks)) {
		goto bad;
	}
	if (version != LOCAL_VERSION) {
		r.why = "it is of another version";
		goto bad;
	}
	if (dim > LOCAL_MAX_DIM || (n_chunks && !dim) || n_files > r.left / 12 ||
	    n_chunks > r.left / 24) {
		r.why = "its counts do not fit its size";
		goto bad;
	}
	x->dim = dim;
	x->next_id = (int64_t)next_id;
	x->files = xcalloc(n_files ? n_files : 1, sizeof(*x->files));
	for (uint32_t i = 0; i < n_files; i++) {
		struct local_file *f = &x->files[i];
		x->n_files++;
		if (!get_str(&r, &f->source) || !get_str(&r, &f->hash) || !get_str(&r, &f->model)) {
			goto bad;
		}
	}
	x->chunks = xcalloc(n_chunks ? n_chunks : 1, sizeof(*x->chunks));
	for (uint32_t i = 0; i < n_chunks; i++) {
		struct local_chunk *c = &x->chunks[i];
		x->n_chunks++;
		uint64_t id;
		if (!get_u64(&r, &id) || !get_u32(&r, &c->file) || !get_u32(&r, &c->index) ||
		    !get_str(&r, &c->title) || !get_str(&r, &c->text)) {
			goto bad;
		}
		c->id = (int64_t)id;
		if (c->file >= n_files) {
			r.why = "a chunk names a file that is not there";
			goto bad;
		}
		if (r.left / 4 < dim) {
			r.why = "it ends too early";
			goto bad;
		}
		c->vec = xmalloc(dim * sizeof(float));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* The file's floats are little-endian: on such a host one copy reads them. */
		memcpy(c->vec, r.p, dim * sizeof(float));
		r.p += dim * sizeof(float);
		r.left -= dim * sizeof(float);
#else
		for (uint32_t j = 0; j < dim; j++) {
			uint32_t u = 0;
			get_u32(&r, &u);
			memcpy(&c->vec[j], &u, 4);
		}
#endif
		/* One pass checks every value and sums the squares for the norm. */
		double sq = 0;
		bool finite = true;
		for (uint32_t j = 0; j < dim; j++) {
			float v = c->vec[j];
			finite &= isfinite(v) != 0;
			sq += (double)v * v;
		}
		if (!finite) {
			r.why = "a vector holds something not a number";
			goto bad;
		}
		c->norm = sqrt(sq);
	}
	if (r.left) {
		r.why = "it has bytes after the last chunk";
		goto bad;
	}
	return true;
bad:
	local_clear(x);
	return err_set(err, ERR_MALFORMED, 0,
	               "rag: the local index %s is damaged (%s): move it away and ingest again",
	               x->path, r.why ? r.why : "unreadable");
}

static bool local_load(struct local_index *x, struct err *err)
{
	x->next_id = 1;
	FILE *f = fopen(x->path, "rb");
	if (!f) {
		if (errno == ENOENT) {
			return true;
		}
		return err_set(err, ERR_CONFIG, 0, "rag: cannot read the local index %s: %s",
		               x->path, strerror(errno));
	}
	/* One buffer of the file's size: no growing and copying a 45 MB index on the way in. */
	struct stat st;
	size_t size = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
	unsigned char *data = xmalloc(size + 1);
	size_t len = fread(data, 1, size, f);
	bool read_error = ferror(f) || len != size || fgetc(f) != EOF;
	fclose(f);
	bool ok;
	if (read_error) {
		ok = err_set(err, ERR_CONFIG, 0,
		             "rag: cannot read the local index %s (read failed or it changed while "
		             "read)",
		             x->path);
	} else {
		ok = local_parse(x, data, len, err);
	}
	free(data);
	return ok;
}

/* mkdir -p for the directory holding path, private to the user. */
static bool make_parent(const char *path, struct err *err)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		free(dir);
		return true;
	}
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0700);
			*p = '/';
		}
	}
	bool ok = true;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		ok = err_set(err, ERR_CONFIG, 0, "rag: cannot create %s for the local index: %s",
		             dir, strerror(errno));
	}
	free(dir);
	return ok;
}

static bool local_save(struct local_index *x, struct err *err)
{
	struct buf b;
	buf_init(&b);
	buf_append(&b, MAGIC, sizeof(MAGIC));
	put_u32(&b, LOCAL_VERSION);
	put_u32(&b, x->dim);
	put_u64(&b, (uint64_t)x->next_id);
	put_u32(&b, (uint32_t)x->n_files);
	put_u32(&b, (uint32_t)x->n_chunks);
	for (size_t i = 0; i < x->n_files; i++) {
		put_str(&b, x->files[i].source);
		put_str(&b, x->files[i].hash);
		put_str(&b, x->files[i].model);
	}
	for (size_t i = 0; i < x->n_chunks; i++) {
		const struct local_chunk *c = &x->chunks[i];
		put_u64(&b, (uint64_t)c->id);
		put_u32(&b, c->file);
		put_u32(&b, c->index);
		put_str(&b, c->title);
		put_str(&b, c->text);
		for (uint32_t j = 0; j < x->dim; j++) {
			put_f32(&b, c->vec[j]);
		}
	}
	unsigned char sum[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)b.data, b.len, sum);
	buf_append(&b, sum, sizeof(sum));

	char *tmp = xasprintf("%s.tmp.%ld", x->path, (long)getpid());
	bool ok = false;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(err, ERR_CONFIG, 0, "rag: cannot write the local index %s: %s", tmp,
		        strerror(errno));
		goto out;
	}
	size_t off = 0;
	while (off < b.len) {
		ssize_t w = write(fd, b.data + off, b.len - off);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		off += (size_t)w;
	}
	if (off < b.len || fsync(fd) != 0) {
		err_set(err, ERR_CONFIG, 0, "rag: cannot write the local index %s: %s", tmp,
		        strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, x->path) != 0) {
		err_set(err, ERR_CONFIG, 0, "rag: cannot replace the local index %s: %s", x->path,
		        strerror(errno));
		unlink(tmp);
		goto out;
	}
	ok = true;
out:
	free(tmp);
	buf_finish(&b);
	return ok;
}

/* A writer saves at most this often while it replaces files; the rest on flush or close. */
#define LOCAL_SAVE_MS 5000

/* local_checkpoint saves unsaved changes when now, or when the last save is LOCAL_SAVE_MS old. */
static bool local_checkpoint(struct local_index *x, bool now, struct err *err)
{
	if (!x->dirty || (!now && now_mono_ms() - x->saved_ms < LOCAL_SAVE_MS)) {
		return true;
	}
	if (!local_save(x, err)) {
		return false;
	}
	x->dirty = false;
	x->saved_ms = now_mono_ms();
	return true;
}

static bool local_open(struct local_index *x, bool write, struct err *err)
{
	x->lock_fd = -1;
	if (write) {
		if (!make_parent(x->path, err)) {
			return false;
		}
		char *lock = xasprintf("%s.lock", x->path);
		x->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		free(lock);
		if (x->lock_fd < 0) {
			return err_set(err, ERR_CONFIG, 0,
			               "rag: cannot lock the local index %s: %s", x->path,
			               strerror(errno));
		}
		if (flock(x->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			return err_set(
			        err, ERR_REJECTED, 0,
			        "rag: another labdeck is writing the local index %s; try again "
			        "when it is done",
			        x->path);
		}
	}
	if (!write) {
		x->streaming = true;
		bool ok = vector_scan_open(&x->scan, x->path, err);
		x->dim = x->scan.dim;
		x->next_id = x->scan.next_id;
		return ok;
	}
	x->saved_ms = now_mono_ms();
	return local_load(x, err);
}

static ssize_t local_find_file(const struct local_index *x, const char *source)
{
	for (size_t i = 0; i < x->n_files; i++) {
		if (strcmp(x->files[i].source, source) == 0) {
			return (ssize_t)i;
		}
	}
	return -1;
}

static void local_lookup(const struct local_index *x, const char *source,
                         struct vector_store_file *out)
{
	memset(out, 0, sizeof(*out));
	ssize_t f = local_find_file(x, source);
	if (f < 0) {
		return;
	}
	out->hash = xstrdup(x->files[f].hash);
	out->model = xstrdup(x->files[f].model);
	for (size_t i = 0; i < x->n_chunks; i++) {
		out->count += x->chunks[i].file == (uint32_t)f;
	}
}

/* Drops file f and its chunks, renumbering the files after it. */
static void local_drop_file(struct local_index *x, size_t f)
{
	size_t w = 0;
	for (size_t i = 0; i < x->n_chunks; i++) {
		struct local_chunk *c = &x->chunks[i];
		if (c->file == f) {
			free(c->title);
			free(c->text);
			free(c->vec);
			continue;
		}
		if (c->file > f) {
			c->file--;
		}
		x->chunks[w++] = *c;
	}
	x->n_chunks = w;
	free(x->files[f].source);
	free(x->files[f].hash);
	free(x->files[f].model);
	memmove(&x->files[f], &x->files[f + 1], (x->n_files - f - 1) * sizeof(*x->files));
	x->n_files--;
}

static bool local_replace(struct vector_store *vs, const char *source, const char *hash,
                          const char *model, const struct vector_store_chunk *chunks, size_t n,
                          size_t dim, struct err *err)
{
	struct local_index *x = &vs->idx;
	if (n && x->n_chunks && dim != x->dim) {
		return dim_mismatch(vs, dim, model, err);
	}
	if (n && dim > LOCAL_MAX_DIM) {
		return err_set(err, ERR_CONFIG, 0, "rag: embeddings of %zu numbers are too large",
		               dim);
	}
	ssize_t old = local_find_file(x, source);
	if (old >= 0) {
		local_drop_file(x, (size_t)old);
	}
	if (n) {
		x->dim = (uint32_t)dim;
		x->files = xrealloc(x->files, (x->n_files + 1) * sizeof(*x->files));
		struct local_file *f = &x->files[x->n_files];
		f->source = xstrdup(source);
		f->hash = xstrdup(hash);
		f->model = xstrdup(model);
		x->chunks = xrealloc(x->chunks, (x->n_chunks + n) * sizeof(*x->chunks));
		for (size_t i = 0; i < n; i++) {
			struct local_chunk *c = &x->chunks[x->n_chunks + i];
			c->id = x->next_id++;
			c->file = (uint32_t)x->n_files;
			c->index = (uint32_t)i;
			c->title = xstrdup(chunks[i].title ? chunks[i].title : "");
			c->text = xstrdup(chunks[i].text ? chunks[i].text : "");
			c->vec = xmalloc(dim * sizeof(float));
			memcpy(c->vec, chunks[i].embedding, dim * sizeof(float));
			c->norm = vec_norm(c->vec, dim);
		}
		x->n_files++;
		x->n_chunks += n;
	}
	if (!x->n_chunks) {
		x->dim = 0;
	}
	vs->dim = x->dim;
	x->dirty = true;
	return local_checkpoint(x, false, err);
}

struct scored {
	size_t chunk;
	double distance;
};

/* a before b: nearer, NAN last, then the lower id. */
static bool scored_before(const struct local_index *x, const struct scored *a,
                          const struct scored *b)
{
	bool na = isnan(a->distance), nb = isnan(b->distance);
	if (na != nb) {
		return nb;
	}
	if (!na && a->distance != b->distance) {
		return a->distance < b->distance;
	}
	return x->chunks[a->chunk].id < x->chunks[b->chunk].id;
}

static bool local_query(struct vector_store *vs, const float *vec, size_t dim, const char *model,
                        size_t k, struct vector_store_hits *out, struct err *err)
{
	struct local_index *x = &vs->idx;
	if (x->streaming) {
		return vector_scan_query(&x->scan, vec, dim, model, k, out, err);
	}
	if (!k || !x->n_chunks) {
		return true;
	}
	double qn = vec_norm(vec, dim);
	struct scored *top = xcalloc(k, sizeof(*top));
	size_t n_top = 0;
	for (size_t i = 0; i < x->n_chunks; i++) {
		const struct local_chunk *c = &x->chunks[i];
		if (model && strcmp(x->files[c->file].model, model) != 0) {
			continue;
		}
		double dot = 0;
		for (size_t j = 0; j < dim; j++) {
			dot += (double)vec[j] * c->vec[j];
		}
		struct scored s = {.chunk = i,
		                   .distance =
		                           qn > 0 && c->norm > 0 ? 1 - dot / (qn * c->norm) : NAN};
		if (n_top == k && !scored_before(x, &s, &top[k - 1])) {
			continue;
		}
		size_t pos = n_top < k ? n_top++ : k - 1;
		while (pos > 0 && scored_before(x, &s, &top[pos - 1])) {
			top[pos] = top[pos - 1];
			pos--;
		}
		top[pos] = s;
	}
	for (size_t i = 0; i < n_top; i++) {
		const struct local_chunk *c = &x->chunks[top[i].chunk];
		vector_store_hits_add(out, c->id, x->files[c->file].source, c->title, c->text,
		                      top[i].distance);
	}
	free(top);
	return true;
}

/* ======================================= PostgreSQL ======================================= */

static void pg_step_on(struct vector_store *vs);
static void pg_watch(struct vector_store *vs, short what);
static void arm_timer(struct vector_store *vs);

static void steps_free(struct pg *pg)
{
	for (size_t i = 0; i < pg->n_steps; i++) {
		free(pg->steps[i].sql);
		for (int j = 0; j < pg->steps[i].n_params; j++) {
			free(pg->steps[i].params[j]);
		}
		free(pg->steps[i].params);
	}
	free(pg->steps);
	pg->steps = NULL;
	pg->n_steps = pg->cur = 0;
}

/* step_add appends a statement; the n parameters (const char *) are copied. */
static struct step *step_add(struct pg *pg, char *sql, int n, ...)
{
	pg->steps = xrealloc(pg->steps, (pg->n_steps + 1) * sizeof(*pg->steps));
	struct step *s = &pg->steps[pg->n_steps++];
	s->sql = sql;
	s->n_params = n;
	s->params = xcalloc(n ? (size_t)n : 1, sizeof(char *));
	s->keep = false;
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *p = va_arg(ap, const char *);
		s->params[i] = xstrdup(p);
	}
	va_end(ap);
	return s;
}

/* The first line of libpq's message, without the "connection to server ... failed: " part. */
static char *pg_reason(const char *msg)
{
	if (!msg || !*msg) {
		return xstrdup("no reason given");
	}
	const char *p = strstr(msg, " failed: ");
	p = p ? p + strlen(" failed: ") : msg;
	size_t n = strcspn(p, "\n");
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\r')) {
		n--;
	}
	return xstrndup(p, n);
}

static enum err_code code_for_sqlstate(const char *state)
{
	if (!state) {
		return ERR_SERVER;
	}
	if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0) {
		return ERR_AUTH;
	}
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) {
		return ERR_UNREACHABLE;
	}
	if (strcmp(state, "57014") == 0) {
		return ERR_TIMEOUT;
	}
	if (strncmp(state, "53", 2) == 0 || strncmp(state, "XX", 2) == 0 ||
	    strncmp(state, "58", 2) == 0) {
		return ERR_SERVER;
	}
	return ERR_REJECTED;
}

static void pg_fail(struct vector_store *vs, enum err_code code, const char *msg)
{
	struct pg *pg = &vs->pg;
	if (!pg->failed) {
		pg->failed = true;
		err_set(&pg->err, code, 0, "rag: PostgreSQL at %s:%s: %s", pg->host, pg->port, msg);
	}
}

/* The connection is gone: the call in flight fails now, and every later one at once. */
static void pg_lost(struct vector_store *vs)
{
	struct pg *pg = &vs->pg;
	char *why = pg_reason(PQerrorMessage(pg->conn));
	pg->broken = true;
	pg->failed = false;
	char *msg = xasprintf("lost the connection: %s; try again once it is back (the next call "
	                      "connects anew)",
	                      why);
	pg_fail(vs, ERR_UNREACHABLE, msg);
	free(msg);
	free(why);
	if (pg->ev) {
		event_free(pg->ev);
		pg->ev = NULL;
	}
	struct err e = pg->err;
	steps_free(pg);
	complete_later(vs, &e);
}

static void pg_finish_call(struct vector_store *vs)
{
	struct pg *pg = &vs->pg;
	PGresult *r = pg->kept;
	pg->kept = NULL;
	steps_free(pg);
	if (pg->failed) {
		struct err e = pg->err;
		PQclear(r);
		complete_later(vs, &e);
		return;
	}
	switch (vs->op) {
	case OP_OPEN:
		pg->table_exists = r && PQntuples(r) > 0;
		vs->dim = 0;
		if (pg->table_exists) {
			long d = strtol(PQgetvalue(r, 0, 0), NULL, 10);
			vs->dim = d > 0 ? (size_t)d : 0;
		}
		break;
	case OP_LOOKUP:
		if (r && PQntuples(r) > 0 && vs->file_out) {
			vs->file_out->hash = xstrdup(PQgetvalue(r, 0, 0));
			vs->file_out->model = xstrdup(PQgetvalue(r, 0, 1));
			for (int i = 0; i < PQntuples(r); i++) {
				vs->file_out->count += strtoul(PQgetvalue(r, i, 2), NULL, 10);
			}
		}
		break;
	case OP_REPLACE:
		if (vs->new_dim) {
			pg->table_exists = true;
			vs->dim = vs->new_dim;
		}
		break;
	case OP_QUERY:
		for (int i = 0; r && i < PQntuples(r) && vs->hits_out; i++) {
			double d = PQgetisnull(r, i, 4) ? NAN : c_strtod(PQgetvalue(r, i, 4));
			vector_store_hits_add(vs->hits_out, strtoll(PQgetvalue(r, i, 0), NULL, 10),
			                      PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
			                      PQgetvalue(r, i, 3), d);
		}
		break;
	case OP_FLUSH: /* never sent to PostgreSQL */
	case OP_NONE:
		break;
	}
	PQclear(r);
	complete_later(vs, NULL);
}

/* A statement's result arrived. */
static void pg_result(struct vector_store *vs, PGresult *r)
{
	struct pg *pg = &vs->pg;
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (pg->steps[pg->cur].keep) {
			PQclear(pg->kept);
			pg->kept = r;
			return;
		}
	} else if (!pg->rolling_back) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		char *msg = pg_reason(primary ? primary : PQresultErrorMessage(r));
		char *full = xasprintf("%s: %s", vs->what ? vs->what : "query", msg);
		pg_fail(vs, code_for_sqlstate(state), full);
		free(full);
		free(msg);
	}
	PQclear(r);
}

/* The statement in flight is done: the next one, a ROLLBACK after a failure in a transaction,
 * or the end of the call. */
static void pg_step_done(struct vector_store *vs)
{
	struct pg *pg = &vs->pg;
	const char *sql = pg->steps[pg->cur].sql;
	if (!pg->failed) {
		if (strcmp(sql, "BEGIN") == 0) {
			pg->in_txn = true;
		} else if (strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0) {
			pg->in_txn = false;
		}
	}
	if (pg->rolling_back) {
		pg->rolling_back = false;
		pg->in_txn = false;
		pg_finish_call(vs);
		return;
	}
	if (pg->failed && pg->in_txn) {
		steps_free(pg);
		step_add(pg, xstrdup("ROLLBACK"), 0);
		pg->rolling_back = true;
		pg_step_on(vs);
		return;
	}
	pg->cur++;
	if (pg->failed || pg->cur >= pg->n_steps) {
		pg_finish_call(vs);
		return;
	}
	pg_step_on(vs);
}

/* Sends the current statement and waits for the socket. */
static void pg_step_on(struct vector_store *vs)
{
	struct pg *pg = &vs->pg;
	struct step *s = &pg->steps[pg->cur];
	if (!PQsendQueryParams(pg->conn, s->sql, s->n_params, NULL, (const char *const *)s->params,
	                       NULL, NULL, 0)) {
		pg_lost(vs);
		return;
	}
	int f = PQflush(pg->conn);
	if (f < 0) {
		pg_lost(vs);
		return;
	}
	arm_timer(vs); /* each statement has the whole timeout */
	pg_watch(vs, f ? EV_READ | EV_WRITE : EV_READ);
}

static void pg_connected(struct vector_store *vs);
static void pg_connect_failed(struct vector_store *vs);
static void pg_fail_connect(struct vector_store *vs, enum err_code code, const char *why);

static void on_pg_socket(evutil_socket_t fd, short what, void *arg)
{
	struct vector_store *vs = arg;
	struct pg *pg = &vs->pg;
	if (pg->connecting) {
		switch (PQconnectPoll(pg->conn)) {
		case PGRES_POLLING_READING:
			pg_watch(vs, EV_READ);
			return;
		case PGRES_POLLING_WRITING:
			pg_watch(vs, EV_WRITE);
			return;
		case PGRES_POLLING_OK:
			pg->connecting = false;
			pg_connected(vs);
			return;
		default:
			pg_connect_failed(vs);
			return;
		}
	}
	if (vs->op == OP_NONE || !pg->steps) {
		/* Nothing asked: read what the server says (a notice, or that it is going away). */
		if (!PQconsumeInput(pg->conn)) {
			pg->broken = true;
			event_del(pg->ev);
		}
		return;
	}
	if (what & EV_WRITE) {
		int f = PQflush(pg->conn);
		if (f < 0) {
			pg_lost(vs);
			return;
		}
		if (f) {
			if (!(what & EV_READ)) {
				return;
			}
		} else {
			pg_watch(vs, EV_READ);
		}
	}
	if (what & EV_READ) {
		if (!PQconsumeInput(pg->conn)) {
			pg_lost(vs);
			return;
		}
	}
	while (!PQisBusy(pg->conn)) {
		PGresult *r = PQgetResult(pg->conn);
		if (!r) {
			pg_step_done(vs);
			return;
		}
		pg_result(vs, r);
	}
}

static void pg_watch(struct vector_store *vs, short what)
{
	struct pg *pg = &vs->pg;
	int fd = PQsocket(pg->conn);
	if (pg->ev && pg->ev_fd == fd && pg->ev_what == what) {
		return;
	}
	if (pg->ev) {
		event_free(pg->ev);
	}
	pg->ev = event_new(vs->base, fd, what | EV_PERSIST, on_pg_socket, vs);
	pg->ev_fd = fd;
	pg->ev_what = what;
	event_add(pg->ev, NULL);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct vector_store *vs = arg;
	struct pg *pg = &vs->pg;
	resolve_cancel(pg->lookup); /* the lookup comes back to nobody */
	pg->lookup = NULL;
	pg->broken = true;
	pg->failed = false;
	char *msg = xasprintf("%s within %.0f s",
	                      pg->connecting ? "did not let us connect" : "did not answer",
	                      vs->timeout_ms / 1000.0);
	pg_fail(vs, ERR_TIMEOUT, msg);
	free(msg);
	if (pg->ev) {
		event_free(pg->ev);
		pg->ev = NULL;
	}
	steps_free(pg);
	struct err e = pg->err;
	complete_later(vs, &e);
}

static void arm_timer(struct vector_store *vs)
{
	struct timeval tv = {vs->timeout_ms / 1000, (vs->timeout_ms % 1000) * 1000};
	evtimer_add(vs->timer, &tv);
}

static void pg_connect_failed(struct vector_store *vs)
{
	const char *msg = PQerrorMessage(vs->pg.conn);
	char *why = pg_reason(msg);
	enum err_code code = ERR_UNREACHABLE;
	if (strstr(msg, "authentication failed") || strstr(msg, "pg_hba.conf") ||
	    strstr(msg, "password") || strstr(msg, "permission denied")) {
		code = ERR_AUTH;
	} else if (strstr(msg, "does not exist")) {
		code = ERR_CONFIG;
	}
	pg_fail_connect(vs, code, why);
	free(why);
}

static void pg_connected(struct vector_store *vs)
{
	struct pg *pg = &vs->pg;
	PQsetnonblocking(pg->conn, 1);
	free(vs->what);
	vs->what = xstrdup("setting up pgvector");
	step_add(pg, xstrdup("CREATE EXTENSION IF NOT EXISTS vector"), 0);
	struct step *s = step_add(pg,
	                          xstrdup("SELECT a.atttypmod FROM pg_attribute a WHERE a.attrelid "
	                                  "= to_regclass($1) AND a.attname = 'embedding' AND NOT "
	                                  "a.attisdropped"),
	                          1, vs->table);
	s->keep = true;
	pg_step_on(vs);
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static const char *conninfo_value(const PQconninfoOption *opts, const char *key)
{
	for (const PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, key) == 0) {
			return o->val && *o->val ? o->val : NULL;
		}
	}
	return NULL;
}

static void pg_fail_connect(struct vector_store *vs, enum err_code code, const char *why)
{
	struct pg *pg = &vs->pg;
	pg->connecting = false;
	pg->broken = true;
	if (pg->ev) {
		event_free(pg->ev);
		pg->ev = NULL;
	}
	/* What to do: a server that is not there is started (or [rag] postgres fixed); the other
	 * failures say what to fix themselves. */
	const char *hint = code == ERR_UNREACHABLE || code == ERR_NETWORK || code == ERR_TIMEOUT
	                           ? "; start PostgreSQL there or fix [rag] postgres"
	                           : "";
	err_set(&pg->err, code, 0, "rag: cannot connect to PostgreSQL at %s:%s: %s%s", pg->host,
	        pg->port, why, hint);
	struct err e = pg->err;
	complete_later(vs, &e);
}

/* Starts libpq's connection with the parsed options, and hostaddr when a lookup gave one (host
 * is still passed, for TLS and .pgpass). */
static void pg_connect(struct vector_store *vs, const char *hostaddr)
{
	struct pg *pg = &vs->pg;
	size_t n = 0;
	for (const PQconninfoOption *o = pg->opts; o->keyword; o++) {
		n++;
	}
	const char **keys = xcalloc(n + 2, sizeof(char *));
	const char **vals = xcalloc(n + 2, sizeof(char *));
	size_t k = 0;
	for (const PQconninfoOption *o = pg->opts; o->keyword; o++) {
		if (o->val && !(hostaddr && strcmp(o->keyword, "hostaddr") == 0)) {
			keys[k] = o->keyword;
			vals[k++] = o->val;
		}
	}
	if (hostaddr) {
		keys[k] = "hostaddr";
		vals[k++] = hostaddr;
	}
	pg->conn = PQconnectStartParams(keys, vals, 0);
	free(keys);
	free(vals);
	PQconninfoFree(pg->opts);
	pg->opts = NULL;
	if (!pg->conn) {
		abort(); /* only on exhausted memory */
	}
	PQsetNoticeProcessor(pg->conn, quiet_notices, NULL);
	if (PQstatus(pg->conn) == CONNECTION_BAD) {
		char *why = pg_reason(PQerrorMessage(pg->conn));
		pg_fail_connect(vs, ERR_UNREACHABLE, why);
		free(why);
		return;
	}
	pg_watch(vs, EV_WRITE);
}

static void on_resolved(void *ud, const char *ip, const struct err *err)
{
	struct vector_store *vs = ud;
	vs->pg.lookup = NULL;
	if (!ip) {
		pg_fail_connect(vs, err->code, err->msg);
		return;
	}
	pg_connect(vs, ip);
}

/* Parses the conninfo, then looks the host name up without blocking (resolve.h: libpq's own lookup
 * would block the loop) unless it is an address, a socket directory, a list, or hostaddr is given.
 */
static void pg_open(struct vector_store *vs, const char *conninfo)
{
	struct pg *pg = &vs->pg;
	char *errmsg = NULL;
	pg->opts = PQconninfoParse(conninfo, &errmsg);
	const char *host = conninfo_value(pg->opts, "host");
	const char *port = conninfo_value(pg->opts, "port");
	const char *hostaddr = conninfo_value(pg->opts, "hostaddr");
	if (!host) {
		host = getenv("PGHOST");
	}
	if (!port) {
		port = getenv("PGPORT");
	}
	pg->host = xstrdup(host && *host ? host : hostaddr ? hostaddr : "localhost");
	pg->port = xstrdup(port && *port ? port : "5432");
	vs->describe = xasprintf("PostgreSQL at %s:%s, table %s", pg->host, pg->port, vs->table);
	if (!pg->opts) {
		struct err e;
		char *why = pg_reason(errmsg);
		err_set(&e, ERR_CONFIG, 0, "rag: [rag] postgres is not a usable conninfo: %s", why);
		free(why);
		PQfreemem(errmsg);
		pg->broken = true;
		complete_later(vs, &e);
		return;
	}
	pg->connecting = true;
	arm_timer(vs);
	if (hostaddr || !host || !*host || host[0] == '/' || strchr(host, ',') ||
	    resolve_is_numeric(host)) {
		pg_connect(vs, NULL);
		return;
	}
	/* Answers from the loop, never inside vector_store_open. */
	pg->lookup = resolve_start(vs->base, host, on_resolved, vs);
}

/* A call on a connection that cannot serve it fails from the loop. */
static bool pg_usable(struct vector_store *vs)
{
	if (!vs->pg.broken) {
		return true;
	}
	struct err e = vs->pg.err;
	if (e.code == ERR_NONE) {
		err_set(&e, ERR_UNREACHABLE, 0, "rag: the connection to %s is gone", vs->describe);
	}
	complete_later(vs, &e);
	return false;
}

static void pg_start(struct vector_store *vs, const char *what)
{
	free(vs->what);
	vs->what = xstrdup(what);
	vs->pg.failed = false;
	err_clear(&vs->pg.err);
	pg_step_on(vs);
}

/* ===================================== the interface ===================================== */

struct vector_store *vector_store_open(const struct vector_store_opts *opts,
                                       vector_store_done_fn done, void *ud)
{
	struct vector_store *vs = xcalloc(1, sizeof(*vs));
	vs->base = opts->base;
	vs->local = !opts->conninfo;
	vs->table = xstrdup(opts->table && *opts->table ? opts->table : VECTOR_STORE_TABLE);
	vs->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : TIMEOUT_MS;
	vs->kick = event_new(vs->base, -1, 0, on_kick, vs);
	vs->timer = evtimer_new(vs->base, on_timeout, vs);
	vs->idx.lock_fd = -1;
	vs->pg.ev_fd = -1;
	vs->done = done;
	vs->ud = ud;
	vs->op = OP_OPEN;
	struct err e;
	err_clear(&e);
	if (vs->local) {
		vs->idx.path =
		        opts->local_path ? xstrdup(opts->local_path) : vector_store_default_path();
		vs->describe = xasprintf("the local index %s", vs->idx.path);
		bool ok = local_open(&vs->idx, opts->write, &e);
		vs->dim = vs->idx.dim;
		complete_later(vs, ok ? NULL : &e);
		return vs;
	}
	if (!table_name_ok(vs->table)) {
		vs->describe = xstrdup("PostgreSQL");
		vs->pg.broken = true;
		err_set(&e, ERR_CONFIG, 0,
		        "rag: [rag] table '%.60s' is not a plain table name (letters, digits and "
		        "_, "
		        "at most %d)",
		        vs->table, TABLE_NAME_MAX);
		vs->pg.err = e;
		complete_later(vs, &e);
		return vs;
	}
	pg_open(vs, opts->conninfo);
	return vs;
}

void vector_store_close(struct vector_store *vs)
{
	if (!vs) {
		return;
	}
	if (vs->kick) {
		event_free(vs->kick);
	}
	if (vs->timer) {
		event_free(vs->timer);
	}
	if (vs->pg.ev) {
		event_free(vs->pg.ev);
	}
	steps_free(&vs->pg);
	PQclear(vs->pg.kept);
	if (vs->pg.conn) {
		PQfinish(vs->pg.conn);
	}
	resolve_cancel(vs->pg.lookup);
	PQconninfoFree(vs->pg.opts);
	free(vs->pg.host);
	free(vs->pg.port);
	if (vs->local && vs->idx.dirty) {
		struct err e;
		if (!local_checkpoint(&vs->idx, true, &e)) {
			/* No call is left to report it to; the next ingest finds the files missing
			 * (or stale) and embeds them again. */
			fprintf(stderr, "labdeck: %s\n", e.msg);
		}
	}
	local_clear(&vs->idx);
	vector_scan_close(&vs->idx.scan);
	if (vs->idx.lock_fd >= 0) {
		close(vs->idx.lock_fd); /* releases the lock */
	}
	free(vs->idx.path);
	free(vs->table);
	free(vs->describe);
	free(vs->what);
	free(vs);
}

bool vector_store_is_local(const struct vector_store *vs)
{
	return vs->local;
}

const char *vector_store_describe(const struct vector_store *vs)
{
	return vs->describe;
}

size_t vector_store_dim(const struct vector_store *vs)
{
	return vs->dim;
}

void vector_store_lookup(struct vector_store *vs, const char *source, struct vector_store_file *out,
                         vector_store_done_fn done, void *ud)
{
	memset(out, 0, sizeof(*out));
	begin_call(vs, OP_LOOKUP, done, ud);
	if (vs->local && vs->idx.streaming) {
		vector_scan_lookup(&vs->idx.scan, source, out);
		complete_later(vs, NULL);
		return;
	}
	if (vs->local) {
		local_lookup(&vs->idx, source, out);
		complete_later(vs, NULL);
		return;
	}
	if (!pg_usable(vs)) {
		return;
	}
	if (!vs->pg.table_exists) {
		complete_later(vs, NULL);
		return;
	}
	vs->file_out = out;
	struct step *s = step_add(&vs->pg,
	                          xasprintf("SELECT file_hash, embed_model, count(*) FROM %s WHERE "
	                                    "source = $1 GROUP BY file_hash, embed_model",
	                                    vs->table),
	                          1, source);
	s->keep = true;
	char *what = xasprintf("looking up %s", source);
	pg_start(vs, what);
	free(what);
}

void vector_store_flush(struct vector_store *vs, vector_store_done_fn done, void *ud)
{
	begin_call(vs, OP_FLUSH, done, ud);
	struct err e;
	err_clear(&e);
	bool ok = !vs->local || local_checkpoint(&vs->idx, true, &e);
	if (!ok) {
		vs->idx.dirty =
		        false; /* the caller is told; closing does not try (and say it) again */
	}
	complete_later(vs, ok ? NULL : &e);
}

void vector_store_replace(struct vector_store *vs, const char *source, const char *hash,
                          const char *model, const struct vector_store_chunk *chunks, size_t n,
                          size_t dim, vector_store_done_fn done, void *ud)
{
	begin_call(vs, OP_REPLACE, done, ud);
	struct err e;
	err_clear(&e);
	if (vs->local) {
		bool ok = local_replace(vs, source, hash, model, chunks, n, dim, &e);
		complete_later(vs, ok ? NULL : &e);
		return;
	}
	if (!pg_usable(vs)) {
		return;
	}
	if (n && vs->dim && dim != vs->dim) {
		dim_mismatch(vs, dim, model, &e);
		complete_later(vs, &e);
		return;
	}
	if (!n && !vs->pg.table_exists) {
		complete_later(vs, NULL);
		return;
	}
	struct pg *pg = &vs->pg;
	vs->new_dim = 0;
	step_add(pg, xstrdup("BEGIN"), 0);
	if (n && !pg->table_exists) {
		vs->new_dim = dim;
		step_add(
		        pg,
		        xasprintf("CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, source "
		                  "text NOT NULL, file_hash text NOT NULL, embed_model text NOT "
		                  "NULL, "
		                  "chunk_index int NOT NULL, title text NOT NULL, text text NOT "
		                  "NULL, "
		                  "embedding vector(%zu) NOT NULL)",
		                  vs->table, dim),
		        0);
		step_add(pg,
		         xasprintf("CREATE INDEX IF NOT EXISTS %s_embedding_idx ON %s USING hnsw "
		                   "(embedding vector_cosine_ops)",
		                   vs->table, vs->table),
		         0);
		step_add(pg,
		         xasprintf("CREATE INDEX IF NOT EXISTS %s_source_idx ON %s (source)",
		                   vs->table, vs->table),
		         0);
	}
	step_add(pg, xasprintf("DELETE FROM %s WHERE source = $1", vs->table), 1, source);
	/* Up to INSERT_ROWS rows per statement: one round trip for a typical file. */
	for (size_t first = 0; first < n; first += INSERT_ROWS) {
		size_t rows = n - first < INSERT_ROWS ? n - first : INSERT_ROWS;
		struct buf sql;
		buf_init(&sql);
		buf_appendf(
		        &sql,
		        "INSERT INTO %s (source, file_hash, embed_model, chunk_index, title, text, "
		        "embedding) VALUES ",
		        vs->table);
		struct step *st = step_add(pg, NULL, 3, source, hash, model);
		st->params = xrealloc(st->params, (3 + 4 * rows) * sizeof(char *));
		for (size_t r = 0; r < rows; r++) {
			const struct vector_store_chunk *ch = &chunks[first + r];
			int p = 4 + 4 * (int)r;
			buf_appendf(&sql, "%s($1, $2, $3, $%d::int, $%d, $%d, $%d::vector)",
			            r ? ", " : "", p, p + 1, p + 2, p + 3);
			st->params[st->n_params++] = xasprintf("%zu", first + r);
			st->params[st->n_params++] = xstrdup(ch->title ? ch->title : "");
			st->params[st->n_params++] = xstrdup(ch->text ? ch->text : "");
			st->params[st->n_params++] = vector_store_vector_text(ch->embedding, dim);
		}
		st->sql = buf_steal(&sql);
	}
	step_add(pg, xstrdup("COMMIT"), 0);
	char *what = xasprintf("storing the chunks of %s", source);
	pg_start(vs, what);
	free(what);
}

void vector_store_query(struct vector_store *vs, const float *vec, size_t dim, const char *model,
                        size_t k, struct vector_store_hits *out, vector_store_done_fn done,
                        void *ud)
{
	out->items = NULL;
	out->len = 0;
	begin_call(vs, OP_QUERY, done, ud);
	struct err e;
	err_clear(&e);
	if (vs->dim && dim != vs->dim) {
		dim_mismatch(vs, dim, model, &e);
		complete_later(vs, &e);
		return;
	}
	if (vs->local) {
		bool ok = local_query(vs, vec, dim, model, k, out, &e);
		complete_later(vs, ok ? NULL : &e);
		return;
	}
	if (!pg_usable(vs)) {
		return;
	}
	if (!vs->pg.table_exists || !k) {
		complete_later(vs, NULL);
		return;
	}
	vs->hits_out = out;
	if (k > 40) {
		/* HNSW gives at most ef_search rows (default 40). */
		char ef[24];
		snprintf(ef, sizeof(ef), "%zu", k < 1000 ? k : 1000);
		step_add(&vs->pg, xstrdup("SELECT set_config('hnsw.ef_search', $1, false)"), 1, ef);
	}
	char *text = vector_store_vector_text(vec, dim);
	char limit[24];
	snprintf(limit, sizeof(limit), "%zu", k);
	struct step *s =
	        step_add(&vs->pg,
	                 xasprintf("SELECT id, source, title, text, embedding <=> $1::vector "
	                           "AS distance FROM %s WHERE embed_model = $2 ORDER BY "
	                           "embedding <=> $1::vector LIMIT $3",
	                           vs->table),
	                 3, text, model ? model : "", limit);
	s->keep = true;
	free(text);
	pg_start(vs, "searching");
}
