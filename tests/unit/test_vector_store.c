/* test_vector_store.c: the local index behind the vector store interface: storing a file's
 * chunks, replacing them, the nearest first, what survives a restart, and a damaged file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <math.h>

#include "support.h"
#include "util.h"
#include "vector_store.h"

#define DIM 4

struct ctx {
	struct event_base *base;
	struct event *tick;
	char dir[64];
	char *path;
};

struct result {
	bool done, failed;
	struct err err;
};

static void on_done(void *ud, const struct err *err)
{
	struct result *r = ud;
	assert_false(r->done); /* exactly once */
	r->done = true;
	r->failed = err != NULL;
	if (err) {
		r->err = *err;
	}
}

static int setup(void **state)
{
	struct ctx *c = xcalloc(1, sizeof(*c));
	c->base = support_base_new(&c->tick);
	strcpy(c->dir, "/tmp/labdeck-vs-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	/* A directory that does not exist yet: the first writer makes it. */
	c->path = xasprintf("%s/state/labdeck/rag-index.bin", c->dir);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char *cmd = xasprintf("rm -rf '%s'", c->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(c->path);
	support_base_free(c->base, c->tick);
	free(c);
	return 0;
}

/* Opens the index at path; *r says how it went. */
static struct vector_store *open_at(struct ctx *c, const char *path, bool write, struct result *r)
{
	memset(r, 0, sizeof(*r));
	struct vector_store_opts o = {.base = c->base, .local_path = path, .write = write};
	struct vector_store *vs = vector_store_open(&o, on_done, r);
	/* The callback never runs inside the call. */
	assert_false(r->done);
	SUPPORT_WAIT_FOR(c->base, r->done, 2000);
	return vs;
}

static struct vector_store *open_ok(struct ctx *c, bool write)
{
	struct result r;
	struct vector_store *vs = open_at(c, c->path, write, &r);
	if (r.failed) {
		fail_msg("open: %s", r.err.msg);
	}
	assert_true(vector_store_is_local(vs));
	return vs;
}

static void replace(struct ctx *c, struct vector_store *vs, const char *source, const char *hash,
                    const char *model, const struct vector_store_chunk *chunks, size_t n,
                    size_t dim, struct result *r)
{
	memset(r, 0, sizeof(*r));
	vector_store_replace(vs, source, hash, model, chunks, n, dim, on_done, r);
	assert_false(r->done);
	SUPPORT_WAIT_FOR(c->base, r->done, 2000);
}

static void replace_ok(struct ctx *c, struct vector_store *vs, const char *source, const char *hash,
                       const char *model, const struct vector_store_chunk *chunks, size_t n)
{
	struct result r;
	replace(c, vs, source, hash, model, chunks, n, DIM, &r);
	if (r.failed) {
		fail_msg("replace %s: %s", source, r.err.msg);
	}
}

static void query(struct ctx *c, struct vector_store *vs, const float *q, const char *model,
                  size_t k, struct vector_store_hits *hits)
{
	struct result r = {0};
	vector_store_query(vs, q, DIM, model, k, hits, on_done, &r);
	SUPPORT_WAIT_FOR(c->base, r.done, 2000);
	if (r.failed) {
		fail_msg("query: %s", r.err.msg);
	}
}

static void lookup(struct ctx *c, struct vector_store *vs, const char *source,
                   struct vector_store_file *f)
{
	struct result r = {0};
	vector_store_lookup(vs, source, f, on_done, &r);
	SUPPORT_WAIT_FOR(c->base, r.done, 2000);
	assert_false(r.failed);
}

static const float E1[DIM] = {1, 0, 0, 0}, E2[DIM] = {0, 1, 0, 0}, MIX[DIM] = {1, 1, 0, 0},
                   NEG[DIM] = {-1, 0, 0, 0}, E3[DIM] = {0, 0, 3, 0};

/* a.md: three chunks; b.md: one chunk; c.md: embedded by another model. */
static void store_three_files(struct ctx *c, struct vector_store *vs)
{
	const struct vector_store_chunk a[] = {
	        {"A > one", "east", E1},
	        {"A > two", "north", E2},
	        {"A > three", "north-east", MIX},
	};
	const struct vector_store_chunk b[] = {{"B", "west", NEG}};
	const struct vector_store_chunk other[] = {{"C", "same as east, other model", E1}};
	replace_ok(c, vs, "/docs/a.md", "sha256:aaaa", "bge-m3", a, 3);
	replace_ok(c, vs, "/docs/b.md", "sha256:bbbb", "bge-m3", b, 1);
	replace_ok(c, vs, "/docs/c.md", "sha256:cccc", "other-model", other, 1);
}

static void insert_and_nearest_first(void **state)
{
	struct ctx *c = *state;
	struct vector_store *vs = open_ok(c, true);
	assert_int_equal(vector_store_dim(vs), 0);
	store_three_files(c, vs);
	assert_int_equal(vector_store_dim(vs), DIM);

	struct vector_store_file f;
	lookup(c, vs, "/docs/a.md", &f);
	assert_string_equal(f.hash, "sha256:aaaa");
	assert_string_equal(f.model, "bge-m3");
	assert_int_equal(f.count, 3);
	vector_store_file_finish(&f);
	lookup(c, vs, "/docs/nothing.md", &f);
	assert_null(f.hash);
	assert_int_equal(f.count, 0);

	struct vector_store_hits h;
	query(c, vs, E1, "bge-m3", 3, &h);
	assert_int_equal(h.len, 3);
	assert_string_equal(h.items[0].text, "east");
	assert_string_equal(h.items[0].title, "A > one");
	assert_string_equal(h.items[0].source, "/docs/a.md");
	assert_float_equal(h.items[0].distance, 0.0, 1e-6);
	assert_string_equal(h.items[1].text, "north-east");
	assert_float_equal(h.items[1].distance, 1 - 1 / sqrt(2), 1e-6);
	assert_string_equal(h.items[2].text, "north");
	assert_float_equal(h.items[2].distance, 1.0, 1e-6);
	/* Ids are distinct and the other model's chunk (same vector as E1) is not among them. */
	assert_true(h.items[0].id != h.items[1].id && h.items[1].id != h.items[2].id);
	vector_store_hits_finish(&h);

	/* Asking for more than there is gives all of that model, the opposite one last. */
	query(c, vs, E1, "bge-m3", 10, &h);
	assert_int_equal(h.len, 4);
	assert_string_equal(h.items[3].text, "west");
	assert_float_equal(h.items[3].distance, 2.0, 1e-6);
	vector_store_hits_finish(&h);

	/* Scale does not matter to cosine distance. */
	const float far_east[DIM] = {5, 0.0001f, 0, 0};
	query(c, vs, far_east, "other-model", 5, &h);
	assert_int_equal(h.len, 1);
	assert_string_equal(h.items[0].source, "/docs/c.md");
	assert_true(h.items[0].distance < 1e-6);
	vector_store_hits_finish(&h);

	/* A vector nothing points along is equally far (1) from everything. */
	query(c, vs, E3, "bge-m3", 1, &h);
	assert_int_equal(h.len, 1);
	assert_float_equal(h.items[0].distance, 1.0, 1e-6);
	vector_store_hits_finish(&h);
	vector_store_close(vs);
}

static void replace_swaps_a_files_chunks(void **state)
{
	struct ctx *c = *state;
	struct vector_store *vs = open_ok(c, true);
	store_three_files(c, vs);
	struct vector_store_hits h;
	query(c, vs, E2, "bge-m3", 1, &h);
	assert_string_equal(h.items[0].text, "north");
	int64_t old_id = h.items[0].id;
	vector_store_hits_finish(&h);

	/* a.md changed: now one chunk, pointing south. */
	const float south[DIM] = {0, -1, 0, 0};
	const struct vector_store_chunk a2[] = {{"A (new)", "south", south}};
	replace_ok(c, vs, "/docs/a.md", "sha256:a2a2", "bge-m3", a2, 1);
	struct vector_store_file f;
	lookup(c, vs, "/docs/a.md", &f);
	assert_string_equal(f.hash, "sha256:a2a2");
	assert_int_equal(f.count, 1);
	vector_store_file_finish(&f);

	query(c, vs, E2, "bge-m3", 10, &h);
	assert_int_equal(h.len, 2); /* a.md's one chunk and b.md's */
	for (size_t i = 0; i < h.len; i++) {
		assert_string_not_equal(h.items[i].text, "north");
		assert_string_not_equal(h.items[i].text, "east");
		assert_true(h.items[i].id != old_id);
	}
	assert_string_equal(h.items[h.len - 1].text, "south");
	vector_store_hits_finish(&h);

	/* A file with no chunks left is forgotten. */
	replace_ok(c, vs, "/docs/b.md", "sha256:empty", "bge-m3", NULL, 0);
	lookup(c, vs, "/docs/b.md", &f);
	assert_null(f.hash);
	query(c, vs, NEG, "bge-m3", 10, &h);
	assert_int_equal(h.len, 1);
	assert_string_equal(h.items[0].text, "south");
	vector_store_hits_finish(&h);

	/* Another dimension is refused, naming both sizes; nothing changes. */
	const float five[5] = {1, 2, 3, 4, 5};
	const struct vector_store_chunk bad[] = {{"X", "x", five}};
	struct result r;
	replace(c, vs, "/docs/x.md", "sha256:x", "bigger-model", bad, 1, 5, &r);
	assert_true(r.failed);
	assert_int_equal(r.err.code, ERR_CONFIG);
	assert_non_null(strstr(r.err.msg, "4"));
	assert_non_null(strstr(r.err.msg, "5"));
	assert_non_null(strstr(r.err.msg, "bigger-model"));
	lookup(c, vs, "/docs/x.md", &f);
	assert_null(f.hash);
	vector_store_close(vs);
}

static void survives_a_restart(void **state)
{
	struct ctx *c = *state;
	struct vector_store *vs = open_ok(c, true);
	store_three_files(c, vs);
	/* Text with Hangul and newlines comes back byte for byte. */
	const char *korean = "프록스목스에서 iGPU를 넘기는 법\n\n둘째 문단";
	const struct vector_store_chunk k[] = {{"한국어 > 제목", korean, E3}};
	replace_ok(c, vs, "/docs/한국어.md", "sha256:kkkk", "bge-m3", k, 1);
	struct vector_store_hits before;
	query(c, vs, MIX, "bge-m3", 5, &before);
	vector_store_close(vs);

	/* A later run (a reader this time) sees the same store. */
	vs = open_ok(c, false);
	assert_int_equal(vector_store_dim(vs), DIM);
	struct vector_store_hits after;
	query(c, vs, MIX, "bge-m3", 5, &after);
	assert_int_equal(after.len, before.len);
	for (size_t i = 0; i < after.len; i++) {
		assert_int_equal(after.items[i].id, before.items[i].id);
		assert_string_equal(after.items[i].text, before.items[i].text);
		assert_string_equal(after.items[i].title, before.items[i].title);
		assert_string_equal(after.items[i].source, before.items[i].source);
		assert_float_equal(after.items[i].distance, before.items[i].distance, 1e-9);
	}
	vector_store_hits_finish(&before);
	vector_store_hits_finish(&after);
	query(c, vs, E3, "bge-m3", 1, &after);
	assert_string_equal(after.items[0].text, korean);
	assert_string_equal(after.items[0].title, "한국어 > 제목");
	assert_string_equal(after.items[0].source, "/docs/한국어.md");
	vector_store_hits_finish(&after);
	struct vector_store_file f;
	lookup(c, vs, "/docs/a.md", &f);
	assert_string_equal(f.hash, "sha256:aaaa");
	assert_int_equal(f.count, 3);
	vector_store_file_finish(&f);
	vector_store_close(vs);

	/* New ids keep counting up after a restart: an id is never given twice. */
	vs = open_ok(c, true);
	const struct vector_store_chunk again[] = {{"A", "again", E1}};
	replace_ok(c, vs, "/docs/a.md", "sha256:again", "bge-m3", again, 1);
	query(c, vs, E1, "bge-m3", 1, &after);
	assert_string_equal(after.items[0].text, "again");
	assert_true(after.items[0].id > 5);
	vector_store_hits_finish(&after);
	vector_store_close(vs);
}

static void damaged_file_is_a_clear_error(void **state)
{
	struct ctx *c = *state;
	struct vector_store *vs = open_ok(c, true);
	store_three_files(c, vs);
	vector_store_close(vs);
	size_t len;
	char *good = support_read_file(c->path, &len);

	struct {
		const char *what;
		size_t keep;     /* bytes kept */
		long flip;       /* byte to change, -1 none */
		const char *why; /* in the message */
	} cases[] = {
	        {"one byte changed", len, (long)len / 2, "checksum"},
	        {"cut short", len - 40, -1, "damaged"},
	        {"not an index", 0, -1, "not a labdeck index"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(c->path, "wb");
		assert_non_null(f);
		if (cases[i].keep) {
			char *copy = xmalloc(len);
			memcpy(copy, good, len);
			if (cases[i].flip >= 0) {
				copy[cases[i].flip] ^= 0x20;
			}
			fwrite(copy, 1, cases[i].keep, f);
			free(copy);
		} else {
			fputs("# just some notes, not an index\n", f);
		}
		fclose(f);
		struct result r;
		vs = open_at(c, c->path, false, &r);
		if (!r.failed) {
			fail_msg("%s: opened without an error", cases[i].what);
		}
		assert_int_equal(r.err.code, ERR_MALFORMED);
		assert_non_null(strstr(r.err.msg, c->path));
		assert_non_null(strstr(r.err.msg, "damaged"));
		if (!strstr(r.err.msg, cases[i].why)) {
			fail_msg("%s: '%s' does not say '%s'", cases[i].what, r.err.msg,
			         cases[i].why);
		}
		vector_store_close(vs);
	}
	free(good);
}

static void flush_ok(struct ctx *c, struct vector_store *vs, struct result *r)
{
	memset(r, 0, sizeof(*r));
	vector_store_flush(vs, on_done, r);
	assert_false(r->done);
	SUPPORT_WAIT_FOR(c->base, r->done, 2000);
}

/* The file's identity: a save writes a new file and renames it over the old. */
static ino_t inode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* A writer does not rewrite the whole index after each file (a 100-file ingest wrote 2.2 GB):
 * it saves at most every 5 s, and on flush or close; a failed flush says so. */
static void saves_at_checkpoints_and_on_flush(void **state)
{
	struct ctx *c = *state;
	struct vector_store *w = open_ok(c, true);
	const struct vector_store_chunk one[] = {{"A", "east", E1}};
	replace_ok(c, w, "/docs/a.md", "sha256:a", "bge-m3", one, 1);
	assert_int_equal(inode_of(c->path), 0); /* not saved yet */
	struct result r;
	flush_ok(c, w, &r);
	assert_false(r.failed);
	ino_t first = inode_of(c->path);
	assert_true(first != 0);
	struct vector_store *rd = open_ok(c, false);
	struct vector_store_file f;
	lookup(c, rd, "/docs/a.md", &f);
	assert_string_equal(f.hash, "sha256:a");
	vector_store_file_finish(&f);
	vector_store_close(rd);

	/* Twenty more files in a row: no save in between, one on flush. */
	for (int i = 0; i < 20; i++) {
		char src[32];
		snprintf(src, sizeof(src), "/docs/n%d.md", i);
		replace_ok(c, w, src, "sha256:n", "bge-m3", one, 1);
	}
	assert_true(inode_of(c->path) == first);
	flush_ok(c, w, &r);
	assert_false(r.failed);
	ino_t second = inode_of(c->path);
	assert_true(second != 0 && second != first);
	flush_ok(c, w, &r); /* nothing new: nothing written */
	assert_true(inode_of(c->path) == second);

	/* Closing saves what is left. */
	replace_ok(c, w, "/docs/last.md", "sha256:l", "bge-m3", one, 1);
	vector_store_close(w);
	rd = open_ok(c, false);
	lookup(c, rd, "/docs/last.md", &f);
	assert_string_equal(f.hash, "sha256:l");
	vector_store_file_finish(&f);
	vector_store_close(rd);

	/* A flush that cannot write says so. */
	w = open_ok(c, true);
	replace_ok(c, w, "/docs/b.md", "sha256:b", "bge-m3", one, 1);
	char *cmd = xasprintf("rm -rf '%s/state'", c->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	flush_ok(c, w, &r);
	assert_true(r.failed);
	assert_non_null(strstr(r.err.msg, "cannot write the local index"));
	vector_store_close(w);
}

static void one_writer_at_a_time(void **state)
{
	struct ctx *c = *state;
	struct vector_store *w1 = open_ok(c, true);
	struct result r;
	struct vector_store *w2 = open_at(c, c->path, true, &r);
	assert_true(r.failed);
	assert_int_equal(r.err.code, ERR_REJECTED);
	assert_non_null(strstr(r.err.msg, "another labdeck"));
	vector_store_close(w2);
	/* A reader is not held up by the writer. */
	struct vector_store *rd = open_ok(c, false);
	vector_store_close(rd);
	vector_store_close(w1);
	/* Once the writer is gone, the next one gets in. */
	w2 = open_ok(c, true);
	vector_store_close(w2);
}

static void empty_store_and_helpers(void **state)
{
	struct ctx *c = *state;
	struct vector_store *vs = open_ok(c, false);
	struct vector_store_hits h;
	query(c, vs, E1, "bge-m3", 5, &h);
	assert_int_equal(h.len, 0);
	assert_non_null(strstr(vector_store_describe(vs), c->path));
	vector_store_close(vs);
	vector_store_close(NULL);

	char *t = vector_store_vector_text((const float[]){1, 0.5f, -2, 1e-7f}, 4);
	assert_string_equal(t, "[1,0.5,-2,1.00000001e-07]");
	free(t);
	char *hash = vector_store_content_hash("abc", 3);
	assert_string_equal(hash,
	                    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2"
	                    "0015ad");
	free(hash);

	setenv("XDG_STATE_HOME", "/var/lib/someone", 1);
	char *p = vector_store_default_path();
	assert_string_equal(p, "/var/lib/someone/labdeck/rag-index.bin");
	free(p);
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "/home/lab", 1);
	p = vector_store_default_path();
	assert_string_equal(p, "/home/lab/.local/state/labdeck/rag-index.bin");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(insert_and_nearest_first, setup, teardown),
	        cmocka_unit_test_setup_teardown(replace_swaps_a_files_chunks, setup, teardown),
	        cmocka_unit_test_setup_teardown(survives_a_restart, setup, teardown),
	        cmocka_unit_test_setup_teardown(damaged_file_is_a_clear_error, setup, teardown),
	        cmocka_unit_test_setup_teardown(saves_at_checkpoints_and_on_flush, setup, teardown),
	        cmocka_unit_test_setup_teardown(one_writer_at_a_time, setup, teardown),
	        cmocka_unit_test_setup_teardown(empty_store_and_helpers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
