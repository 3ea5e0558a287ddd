/* vector_scan.c: the local index read as a stream (see vector_scan.h). */
#include "vector_scan.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define DIGEST 32 /* SHA-256 */

/* A bounded reader over the bytes before the checksum, hashing them when md is set. */
struct sreader {
	FILE *f;
	size_t left;
	EVP_MD_CTX *md;
	const char *why;
};

static bool s_bytes(struct sreader *r, void *buf, size_t n)
{
	if (n > r->left || fread(buf, 1, n, r->f) != n) {
		r->why = "it ends too early";
		return false;
	}
	if (r->md) {
		EVP_DigestUpdate(r->md, buf, n);
	}
	r->left -= n;
	return true;
}

static bool s_u32(struct sreader *r, uint32_t *v)
{
	unsigned char b[4];
	if (!s_bytes(r, b, 4)) {
		return false;
	}
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return true;
}

static bool s_u64(struct sreader *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (!s_u32(r, &lo) || !s_u32(r, &hi)) {
		return false;
	}
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

/* A string into a reusable buffer (NUL-terminated). */
struct sbuf {
	char *p;
	size_t cap;
};

static bool s_str(struct sreader *r, struct sbuf *b)
{
	uint32_t n;
	if (!s_u32(r, &n)) {
		return false;
	}
	if (n > r->left) {
		r->why = "a string runs past the end";
		return false;
	}
	if ((size_t)n + 1 > b->cap) {
		b->cap = (size_t)n + 1;
		b->p = xrealloc(b->p, b->cap);
	}
	if (!s_bytes(r, b->p, n)) {
		return false;
	}
	if (memchr(b->p, 0, n)) {
		r->why = "a string holds a NUL byte";
		return false;
	}
	b->p[n] = '\0';
	return true;
}

static bool s_vec(struct sreader *r, float *v, uint32_t dim)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return s_bytes(r, v, (size_t)dim * sizeof(float));
#else
	for (uint32_t j = 0; j < dim; j++) {
		uint32_t u;
		if (!s_u32(r, &u)) {
			return false;
		}
		memcpy(&v[j], &u, 4);
	}
	return true;
#endif
}

static bool damaged(const struct vector_scan *s, const char *why, struct err *err)
{
	return err_set(err, ERR_MALFORMED, 0,
	               "rag: the local index %s is damaged (%s): move it away and ingest again",
	               s->path, why ? why : "unreadable");
}

/* check_chunks reads every chunk once for its structure. */
static bool check_chunks(struct vector_scan *s, struct sreader *r)
{
	struct sbuf title = {0}, text = {0};
	float *v = xmalloc(((size_t)s->dim ? s->dim : 1) * sizeof(float));
	bool ok = true;
	for (uint32_t i = 0; ok && i < s->n_chunks; i++) {
		uint64_t id;
		uint32_t file, index;
		ok = s_u64(r, &id) && s_u32(r, &file) && s_u32(r, &index) && s_str(r, &title) &&
		     s_str(r, &text) && s_vec(r, v, s->dim);
		if (ok && file >= s->n_files) {
			r->why = "a chunk names a file that is not there";
			ok = false;
		}
		if (ok) {
			s->counts[file]++;
		}
		for (uint32_t j = 0; ok && j < s->dim; j++) {
			if (!isfinite(v[j])) {
				r->why = "a vector holds something not a number";
				ok = false;
			}
		}
	}
	if (ok && r->left) {
		r->why = "it has bytes after the last chunk";
		ok = false;
	}
	free(v);
	free(title.p);
	free(text.p);
	return ok;
}

/* read_header reads what comes before the chunks: the counts and the file table. */
static bool read_header(struct vector_scan *s, struct sreader *r)
{
	char magic[8];
	uint32_t version;
	uint64_t next_id;
	if (!s_bytes(r, magic, sizeof(magic)) || memcmp(magic, VECTOR_SCAN_MAGIC, 8) != 0) {
		r->why = "it is not a labdeck index";
		return false;
	}
	if (!s_u32(r, &version) || !s_u32(r, &s->dim) || !s_u64(r, &next_id) ||
	    !s_u32(r, &s->n_files) || !s_u32(r, &s->n_chunks)) {
		return false;
	}
	s->next_id = (int64_t)next_id;
	if (version != VECTOR_SCAN_VERSION) {
		r->why = "it is of another version";
		return false;
	}
	if (s->dim > VECTOR_SCAN_MAX_DIM || (s->n_chunks && !s->dim) || s->n_files > r->left / 12 ||
	    s->n_chunks > r->left / 24) {
		r->why = "its counts do not fit its size";
		return false;
	}
	s->files = xcalloc(s->n_files ? s->n_files : 1, sizeof(*s->files));
	s->counts = xcalloc(s->n_files ? s->n_files : 1, sizeof(*s->counts));
	struct sbuf b = {0};
	bool ok = true;
	for (uint32_t i = 0; ok && i < s->n_files; i++) {
		struct vector_scan_file *f = &s->files[i];
		ok = s_str(r, &b) && (f->source = xstrdup(b.p)) && s_str(r, &b) &&
		     (f->hash = xstrdup(b.p)) && s_str(r, &b) && (f->model = xstrdup(b.p));
	}
	free(b.p);
	return ok;
}

bool vector_scan_open(struct vector_scan *s, const char *path, struct err *err)
{
	memset(s, 0, sizeof(*s));
	s->path = xstrdup(path);
	s->next_id = 1;
	s->f = fopen(path, "rb");
	if (!s->f) {
		if (errno == ENOENT) {
			return true;
		}
		return err_set(err, ERR_CONFIG, 0, "rag: cannot read the local index %s: %s", path,
		               strerror(errno));
	}
	struct stat st;
	s->size = fstat(fileno(s->f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
	if (s->size < 8 + DIGEST) {
		return damaged(s, "it is not a labdeck index", err);
	}
	/* One pass: the structure and the checksum together. A structural fault still reads the
	 * rest, so that a changed byte is reported as the checksum it breaks. */
	struct sreader r = {.f = s->f, .left = s->size - DIGEST, .md = EVP_MD_CTX_new()};
	EVP_DigestInit_ex(r.md, EVP_sha256(), NULL);
	bool ok = read_header(s, &r);
	s->chunks_at = ftell(s->f);
	ok = ok && check_chunks(s, &r);
	const char *why = r.why;
	unsigned char buf[65536];
	while (r.left && !ferror(s->f) && !feof(s->f)) {
		size_t n = fread(buf, 1, r.left < sizeof(buf) ? r.left : sizeof(buf), s->f);
		EVP_DigestUpdate(r.md, buf, n);
		r.left -= n;
		if (n == 0) {
			break;
		}
	}
	unsigned char want[DIGEST], got[DIGEST];
	unsigned int len = 0;
	EVP_DigestFinal_ex(r.md, got, &len);
	EVP_MD_CTX_free(r.md);
	bool sum_ok =
	        !r.left && fread(want, 1, DIGEST, s->f) == DIGEST && memcmp(want, got, DIGEST) == 0;
	if (!sum_ok && (ok || (why && strcmp(why, "it is not a labdeck index") != 0))) {
		return damaged(s, "its checksum does not match", err);
	}
	if (!ok) {
		return damaged(s, why, err);
	}
	return true;
}

/* A chunk among the k best so far. */
struct cand {
	int64_t id;
	uint32_t file;
	char *title, *text;
	double distance;
};

/* a before b: nearer, NAN last, then the lower id. */
static bool before(const struct cand *a, const struct cand *b)
{
	bool na = isnan(a->distance), nb = isnan(b->distance);
	if (na != nb) {
		return nb;
	}
	if (!na && a->distance != b->distance) {
		return a->distance < b->distance;
	}
	return a->id < b->id;
}

bool vector_scan_query(struct vector_scan *s, const float *q, size_t dim, const char *model,
                       size_t k, struct vector_store_hits *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	if (!s->f || !k || !s->n_chunks) {
		return true;
	}
	if (dim != s->dim || fseek(s->f, s->chunks_at, SEEK_SET) != 0) {
		return damaged(s, "it changed while open", err);
	}
	double qn = 0;
	for (size_t j = 0; j < dim; j++) {
		qn += (double)q[j] * q[j];
	}
	qn = sqrt(qn);
	struct sreader r = {.f = s->f, .left = s->size - DIGEST - (size_t)s->chunks_at};
	struct sbuf title = {0}, text = {0};
	float *v = xmalloc(dim * sizeof(float));
	struct cand *top = xcalloc(k, sizeof(*top));
	size_t n_top = 0;
	bool ok = true;
	for (uint32_t i = 0; ok && i < s->n_chunks; i++) {
		uint64_t id;
		uint32_t file, index;
		ok = s_u64(&r, &id) && s_u32(&r, &file) && s_u32(&r, &index) && s_str(&r, &title) &&
		     s_str(&r, &text) && s_vec(&r, v, s->dim) && file < s->n_files;
		if (!ok || (model && strcmp(s->files[file].model, model) != 0)) {
			continue;
		}
		double dot = 0, vn = 0;
		for (size_t j = 0; j < dim; j++) {
			dot += (double)q[j] * v[j];
			vn += (double)v[j] * v[j];
		}
		vn = sqrt(vn);
		struct cand c = {(int64_t)id, file, NULL, NULL,
		                 qn > 0 && vn > 0 ? 1 - dot / (qn * vn) : NAN};
		if (n_top == k && !before(&c, &top[k - 1])) {
			continue;
		}
		if (n_top == k) {
			free(top[k - 1].title); /* the worst of the k leaves */
			free(top[k - 1].text);
		}
		c.title = xstrdup(title.p);
		c.text = xstrdup(text.p);
		size_t pos = n_top < k ? n_top++ : k - 1;
		while (pos > 0 && before(&c, &top[pos - 1])) {
			top[pos] = top[pos - 1];
			pos--;
		}
		top[pos] = c;
	}
	for (size_t i = 0; i < n_top; i++) {
		if (ok) {
			vector_store_hits_add(out, top[i].id, s->files[top[i].file].source,
			                      top[i].title, top[i].text, top[i].distance);
		}
		free(top[i].title);
		free(top[i].text);
	}
	free(top);
	free(v);
	free(title.p);
	free(text.p);
	return ok ? true : damaged(s, "it changed while open", err);
}

void vector_scan_lookup(const struct vector_scan *s, const char *source,
                        struct vector_store_file *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < s->n_files; i++) {
		if (s->files[i].source && strcmp(s->files[i].source, source) == 0) {
			out->hash = xstrdup(s->files[i].hash ? s->files[i].hash : "");
			out->model = xstrdup(s->files[i].model ? s->files[i].model : "");
			out->count = s->counts[i];
			return;
		}
	}
}

void vector_scan_close(struct vector_scan *s)
{
	if (s->f) {
		fclose(s->f);
	}
	for (uint32_t i = 0; s->files && i < s->n_files; i++) {
		free(s->files[i].source);
		free(s->files[i].hash);
		free(s->files[i].model);
	}
	free(s->files);
	free(s->counts);
	free(s->path);
	memset(s, 0, sizeof(*s));
}
