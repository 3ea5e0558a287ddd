/* test_chunker.c: Markdown and text into chunks: headings as titles, paragraphs packed, overlap,
 * bounded sizes, multibyte text never cut inside a character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chunker.h"
#include "util.h"

/* A strict UTF-8 check: every sequence complete, no stray continuation byte. */
static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80             ? 0
		        : (*p & 0xE0) == 0xC0 ? 1
		        : (*p & 0xF0) == 0xE0 ? 2
		        : (*p & 0xF8) == 0xF0 ? 3
		                              : -1;
		if (n < 0) {
			return false;
		}
		p++;
		for (int i = 0; i < n; i++, p++) {
			if ((*p & 0xC0) != 0x80) {
				return false;
			}
		}
	}
	return true;
}

static void split(const char *text, const char *title, size_t max, size_t overlap,
                  struct chunker_list *out)
{
	struct chunker_opts o = {.max_chars = max, .overlap = overlap};
	memset(out, 0, sizeof(*out));
	chunker_split(text, strlen(text), title, max ? &o : NULL, out);
}

static void assert_bounded(const struct chunker_list *l, size_t max)
{
	for (size_t i = 0; i < l->len; i++) {
		const char *t = l->items[i].text;
		size_t n = chunker_chars(t, strlen(t));
		if (n > max || n == 0) {
			fail_msg("chunk %zu has %zu characters (max %zu)", i, n, max);
		}
		if (!valid_utf8(t)) {
			fail_msg("chunk %zu is not valid UTF-8", i);
		}
		if (t[0] == ' ' || t[0] == '\n' || t[strlen(t) - 1] == ' ' ||
		    t[strlen(t) - 1] == '\n') {
			fail_msg("chunk %zu is not trimmed: '%s'", i, t);
		}
	}
}

/* Chunk b begins with text that ends chunk a (the overlap), of at least min characters. */
static void assert_overlap(const char *a, const char *b, size_t min)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t best = 0;
	for (size_t n = 1; n <= la && n <= lb; n++) {
		if (memcmp(a + la - n, b, n) == 0) {
			best = n;
		}
	}
	if (best < min) {
		fail_msg("no overlap of %zu bytes between\n...%s\nand\n%.80s...", min,
		         a + (la > 80 ? la - 80 : 0), b);
	}
}

static void headings_give_titles(void **state)
{
	(void)state;
	const char *md = "Intro before any heading.\n"
	                 "\n"
	                 "# Proxmox\n"
	                 "\n"
	                 "The host runs two nodes.\n"
	                 "\n"
	                 "## GPU passthrough ##\n"
	                 "Bind the iGPU to vfio-pci.\n"
	                 "\n"
	                 "### IOMMU\n"
	                 "Enable intel_iommu=on.\n"
	                 "## Backups\n"
	                 "Nightly to the NAS.\n"
	                 "# Kubernetes\n"
	                 "#not-a-heading stays text\n";
	struct chunker_list l;
	split(md, "notes.md", 0, 0, &l);
	assert_int_equal(l.len, 6);
	assert_string_equal(l.items[0].title, "notes.md");
	assert_string_equal(l.items[0].text, "Intro before any heading.");
	assert_string_equal(l.items[1].title, "Proxmox");
	assert_string_equal(l.items[1].text, "The host runs two nodes.");
	assert_string_equal(l.items[2].title, "Proxmox > GPU passthrough");
	assert_string_equal(l.items[2].text, "Bind the iGPU to vfio-pci.");
	assert_string_equal(l.items[3].title, "Proxmox > GPU passthrough > IOMMU");
	assert_string_equal(l.items[4].title, "Proxmox > Backups");
	assert_string_equal(l.items[4].text, "Nightly to the NAS.");
	assert_string_equal(l.items[5].title, "Kubernetes");
	assert_string_equal(l.items[5].text, "#not-a-heading stays text");
	chunker_list_finish(&l);
	assert_null(l.items);
	assert_int_equal(l.len, 0);
}

static void fenced_code_is_not_a_heading(void **state)
{
	(void)state;
	const char *md = "# Setup\r\n"
	                 "\r\n"
	                 "Run this:\r\n"
	                 "\r\n"
	                 "```sh\r\n"
	                 "# a shell comment, not a heading\r\n"
	                 "\r\n"
	                 "qm set 102 --hostpci0 0000:c5:00.0\r\n"
	                 "```\r\n"
	                 "Done.\r\n";
	struct chunker_list l;
	split(md, NULL, 0, 0, &l);
	assert_int_equal(l.len, 1);
	assert_string_equal(l.items[0].title, "Setup");
	/* CRLF is read as LF; the blank line inside the fence stays. */
	assert_string_equal(l.items[0].text,
	                    "Run this:\n\n```sh\n# a shell comment, not a heading\n\n"
	                    "qm set 102 --hostpci0 0000:c5:00.0\n```\nDone.");
	chunker_list_finish(&l);
}

/* Paragraph i of n: "pNN " then filler words to about len characters. */
static char *paragraphs(int n, size_t len)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < n; i++) {
		size_t start = b.len;
		buf_appendf(&b, "p%02d", i);
		while (b.len - start < len) {
			buf_appendf(&b, " word%d", (int)(b.len % 97));
		}
		buf_append(&b, ".\n\n", 3);
	}
	return buf_steal(&b);
}

static void paragraphs_packed_with_overlap(void **state)
{
	(void)state;
	char *text = paragraphs(12, 400); /* ~4,900 characters */
	struct chunker_list l;
	split(text, "doc", 0, 0, &l);
	assert_true(l.len >= 4 && l.len <= 6);
	assert_bounded(&l, CHUNKER_MAX_CHARS);
	for (size_t i = 0; i < l.len; i++) {
		assert_string_equal(l.items[i].title, "doc");
		/* Each chunk ends where a paragraph ends: packing does not cut paragraphs. */
		const char *t = l.items[i].text;
		assert_int_equal(t[strlen(t) - 1], '.');
		if (i > 0) {
			assert_overlap(l.items[i - 1].text, t, 20);
			/* The overlap starts at a word, not inside one. */
			assert_true(t[0] == 'w' || t[0] == 'p');
		}
	}
	/* Every paragraph is in some chunk, whole. */
	for (int i = 0; i < 12; i++) {
		char tag[8];
		snprintf(tag, sizeof(tag), "p%02d ", i);
		bool found = false;
		for (size_t j = 0; j < l.len && !found; j++) {
			found = strstr(l.items[j].text, tag) != NULL;
		}
		if (!found) {
			fail_msg("paragraph %s is in no chunk", tag);
		}
	}
	/* The overlap stays near what was asked: no chunk repeats more than ~200 characters. */
	for (size_t i = 1; i < l.len; i++) {
		const char *a = l.items[i - 1].text, *b = l.items[i].text;
		size_t la = strlen(a), common = 0;
		for (size_t n = 1; n <= la && n <= strlen(b); n++) {
			if (memcmp(a + la - n, b, n) == 0) {
				common = n;
			}
		}
		assert_true(common <= CHUNKER_OVERLAP);
	}
	chunker_list_finish(&l);

	/* Without overlap, the chunks are the text, cut at paragraphs. */
	split(text, "doc", 1500, 0, &l);
	struct buf joined;
	buf_init(&joined);
	for (size_t i = 0; i < l.len; i++) {
		buf_appendf(&joined, "%s%s", i ? "\n\n" : "", l.items[i].text);
	}
	buf_append(&joined, "\n\n", 2);
	assert_string_equal(joined.data, text);
	buf_finish(&joined);
	chunker_list_finish(&l);
	free(text);
}

static void huge_paragraph_is_cut_at_words(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	for (int i = 0; b.len < 10000; i++) {
		buf_appendf(&b, "%sterm%d", i ? " " : "", i);
	}
	struct chunker_list l;
	split(b.data, "big", 0, 0, &l);
	assert_true(l.len >= 7);
	assert_bounded(&l, CHUNKER_MAX_CHARS);
	for (size_t i = 0; i < l.len; i++) {
		const char *t = l.items[i].text;
		/* Starts and ends with a whole word. */
		assert_true(strncmp(t, "term", 4) == 0);
		size_t n = strlen(t);
		assert_true(t[n - 1] >= '0' && t[n - 1] <= '9');
		if (i > 0) {
			assert_overlap(l.items[i - 1].text, t, 100);
		}
	}
	/* Nothing is lost: the last word of the text ends the last chunk. */
	const char *last_space = strrchr(b.data, ' ');
	const char *tail = l.items[l.len - 1].text;
	assert_string_equal(tail + strlen(tail) - strlen(last_space + 1), last_space + 1);
	chunker_list_finish(&l);
	buf_finish(&b);
}

static void hangul_never_cut_inside_a_character(void **state)
{
	(void)state;
	/* 5,000 syllables (3 bytes each) with no space at all, then a spaced Korean paragraph. */
	struct buf b;
	buf_init(&b);
	buf_append(&b, "# 한국어 문서\n\n", strlen("# 한국어 문서\n\n"));
	const char *syl[] = {"가", "나", "다", "라", "마", "바", "사", "아", "자", "차", "카"};
	for (int i = 0; i < 5000; i++) {
		buf_append(&b, syl[i % 11], strlen(syl[i % 11]));
	}
	buf_append(&b, "\n\n", 2);
	for (int i = 0; i < 300; i++) {
		buf_appendf(&b, "%s프록스목스 호스트에서 GPU를 넘깁니다.", i ? " " : "");
	}
	struct chunker_list l;
	split(b.data, NULL, 0, 0, &l);
	assert_true(l.len >= 8);
	assert_bounded(&l, CHUNKER_MAX_CHARS);
	for (size_t i = 0; i < l.len; i++) {
		assert_string_equal(l.items[i].title, "한국어 문서");
		if (i > 0) {
			assert_overlap(l.items[i - 1].text, l.items[i].text, 30);
		}
	}
	/* With no word to wait for, the run is cut near the limit, not early. */
	assert_true(chunker_chars(l.items[1].text, strlen(l.items[1].text)) > 1400);
	/* Nothing of the run is lost: every stretch of 20 syllables is in some chunk. */
	const char *run = strstr(b.data, "\n\n") + 2;
	for (size_t k = 0; k + 20 <= 5000; k += 37) {
		char window[64];
		memcpy(window, run + 3 * k, 60);
		window[60] = '\0';
		bool found = false;
		for (size_t i = 0; i < l.len && !found; i++) {
			found = strstr(l.items[i].text, window) != NULL;
		}
		if (!found) {
			fail_msg("syllables %zu..%zu are in no chunk", k, k + 20);
		}
	}
	chunker_list_finish(&l);

	/* A tiny limit still never cuts a syllable. */
	split("가나다라마바사아자차카타파하", "t", 16, 3, &l);
	assert_bounded(&l, 16);
	chunker_list_finish(&l);
	buf_finish(&b);
}

static void empty_and_blank_give_nothing(void **state)
{
	(void)state;
	struct chunker_list l = {0};
	chunker_split("", 0, "x", NULL, &l);
	assert_int_equal(l.len, 0);
	chunker_split(NULL, 0, "x", NULL, &l);
	assert_int_equal(l.len, 0);
	split(" \n\n\t\r\n  \n", "x", 0, 0, &l);
	assert_int_equal(l.len, 0);
	/* Headings alone carry no text to retrieve. */
	split("# One\n## Two\n\n### Three\n", "x", 0, 0, &l);
	assert_int_equal(l.len, 0);
	chunker_list_finish(&l);
	chunker_list_finish(NULL);
}

static void chars_counts_code_points(void **state)
{
	(void)state;
	assert_int_equal(chunker_chars("abc", 3), 3);
	assert_int_equal(chunker_chars("한국", strlen("한국")), 2);
	assert_int_equal(chunker_chars("é", strlen("é")), 1);
	/* Text without a final newline and a heading at the very end. */
	struct chunker_list l;
	split("plain text, no newline", "file.txt", 0, 0, &l);
	assert_int_equal(l.len, 1);
	assert_string_equal(l.items[0].title, "file.txt");
	assert_string_equal(l.items[0].text, "plain text, no newline");
	chunker_list_finish(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(headings_give_titles),
	        cmocka_unit_test(fenced_code_is_not_a_heading),
	        cmocka_unit_test(paragraphs_packed_with_overlap),
	        cmocka_unit_test(huge_paragraph_is_cut_at_words),
	        cmocka_unit_test(hangul_never_cut_inside_a_character),
	        cmocka_unit_test(empty_and_blank_give_nothing),
	        cmocka_unit_test(chars_counts_code_points),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
