/* test_json_util.c: json_strip_key against jansson: stripping the text must give the same tree as
 * parsing and then deleting the key everywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_util.h"
#include "util.h"

static void delete_key(json_t *v, const char *key)
{
	if (json_is_object(v)) {
		json_object_del(v, key);
		const char *k;
		json_t *child;
		json_object_foreach (v, k, child) {
			delete_key(child, key);
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *child;
		json_array_foreach (v, i, child) {
			delete_key(child, key);
		}
	}
}

/* Strips key from text and checks the result parses to the same tree as the reference. */
static void check_strip(const char *text, const char *key)
{
	size_t len = strlen(text);
	char *buf = xstrdup(text);
	size_t n = json_strip_key(buf, len, key);
	json_error_t e1, e2;
	json_t *got = json_loadb(buf, n, 0, &e1);
	json_t *want = json_loads(text, 0, &e2);
	assert_non_null(want);
	if (!got) {
		fail_msg("stripped text does not parse: %.*s (%s)", (int)n, buf, e1.text);
	}
	delete_key(want, key);
	if (!json_equal(got, want)) {
		fail_msg("different tree for %s -> %.*s", text, (int)n, buf);
	}
	json_decref(got);
	json_decref(want);
	free(buf);
}

static void test_positions(void **state)
{
	(void)state;
	check_strip("{\"managedFields\":[{\"a\":1}],\"name\":\"x\"}", "managedFields");
	check_strip("{\"name\":\"x\",\"managedFields\":[{\"a\":1}]}", "managedFields");
	check_strip("{\"a\":1,\"managedFields\":{\"b\":[1,2,{\"c\":\"}\"}]},\"z\":2}",
	            "managedFields");
	check_strip("{\"managedFields\":null}", "managedFields");
	check_strip("{ \"managedFields\" : [ ] , \"k\" : true }", "managedFields");
	check_strip("[{\"m\":{\"managedFields\":1}},{\"managedFields\":\"s\",\"x\":[]}]",
	            "managedFields");
}

static void test_strings_left_alone(void **state)
{
	(void)state;
	/* The name as a value, inside a value, and with escapes around it. */
	check_strip("{\"note\":\"managedFields\",\"managedFields\":1}", "managedFields");
	check_strip("{\"q\":\"say \\\"managedFields\\\": no\",\"x\":1}", "managedFields");
	check_strip("{\"a\\\"\":\"\\\\\",\"managedFields\":[\"]\",\"}\"]}", "managedFields");
	check_strip("[\"managedFields\",\"managedFields\"]", "managedFields");
}

/* Random documents: objects, arrays, strings with quotes and escapes, the key sprinkled in. */
static void gen(struct buf *b, int depth, unsigned *seed)
{
	int kind = depth > 3 ? (int)(rand_r(seed) % 3) : (int)(rand_r(seed) % 5);
	static const char *const strs[] = {"\"a\"",    "\"managedFields\"", "\"q\\\"x\"",
	                                   "\"\\\\\"", "\"}]{[,:\"",        "\"\""};
	switch (kind) {
	case 0:
		buf_appendf(b, "%d", (int)(rand_r(seed) % 100));
		break;
	case 1:
		buf_appendf(b, "%s", strs[rand_r(seed) % 6]);
		break;
	case 2:
		buf_appendf(b, "%s", rand_r(seed) % 2 ? "true" : "null");
		break;
	case 3: {
		int n = (int)(rand_r(seed) % 4);
		buf_append(b, "[", 1);
		for (int i = 0; i < n; i++) {
			if (i) {
				buf_append(b, rand_r(seed) % 2 ? ", " : ",",
				           rand_r(seed) % 2 ? 2 : 1);
			}
			gen(b, depth + 1, seed);
		}
		buf_append(b, "]", 1);
		break;
	}
	default: {
		int n = (int)(rand_r(seed) % 4);
		buf_append(b, "{", 1);
		for (int i = 0; i < n; i++) {
			if (i) {
				buf_append(b, ",", 1);
			}
			static const char *const keys[] = {"\"managedFields\"", "\"k\"",
			                                   "\"m\\\"\"", "\"managedFieldsX\""};
			buf_appendf(b, "%s%s:", keys[rand_r(seed) % 4],
			            rand_r(seed) % 2 ? " " : "");
			gen(b, depth + 1, seed);
		}
		buf_append(b, "}", 1);
		break;
	}
	}
}

static void test_random_documents(void **state)
{
	(void)state;
	unsigned seed = 12345;
	for (int i = 0; i < 3000; i++) {
		struct buf b;
		buf_init(&b);
		buf_append(&b, "{\"root\":", 8);
		gen(&b, 0, &seed);
		buf_append(&b, "}", 1);
		/* Duplicate keys make jansson's reference differ; skip those documents. */
		json_t *probe = json_loads(b.data, JSON_REJECT_DUPLICATES, NULL);
		if (probe) {
			json_decref(probe);
			check_strip(b.data, "managedFields");
		}
		buf_finish(&b);
	}
}

static void test_truncated_input_is_safe(void **state)
{
	(void)state;
	const char *text = "{\"a\":[1,2],\"managedFields\":[{\"x\":\"y\\\"z\"}],\"b\":\"c\"}";
	size_t len = strlen(text);
	for (size_t cut = 0; cut <= len; cut++) {
		char *buf = xmalloc(cut + 1);
		memcpy(buf, text, cut);
		size_t n = json_strip_key(buf, cut, "managedFields");
		assert_true(n <= cut);
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_positions),
	        cmocka_unit_test(test_strings_left_alone),
	        cmocka_unit_test(test_random_documents),
	        cmocka_unit_test(test_truncated_input_is_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
