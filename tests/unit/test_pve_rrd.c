/* test_pve_rrd.c: Proxmox rrddata answers (real shapes from tests/fixtures/proxmox) into series. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "pve_rrd.h"
#include "support.h"
#include "util.h"

/* cmocka 1.1 has no assert_double_equal */
#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

/* Parses an inline body (copied without its terminator); asserts success. */
static void parse_ok(const char *text, struct rrd_series *s)
{
	size_t len = strlen(text);
	char *body = xmalloc(len);
	memcpy(body, text, len);
	struct err e;
	err_clear(&e);
	bool ok = pve_parse_rrddata(body, len, s, &e);
	free(body);
	if (!ok) {
		fail_msg("parse failed: %s", e.msg);
	}
}

static void parse_fixture(const char *name, struct rrd_series *s)
{
	size_t len;
	char *body = support_fixture_exact("proxmox", name, &len);
	struct err e;
	err_clear(&e);
	bool ok = pve_parse_rrddata(body, len, s, &e);
	free(body);
	if (!ok) {
		fail_msg("%s: %s", name, e.msg);
	}
}

/* A real node answer: every key present, memory as averaged (fractional) byte counts. */
static void test_node_hour(void **state)
{
	(void)state;
	struct rrd_series s;
	parse_fixture("node_rrddata_hour.json", &s);
	assert_int_equal(s.len, 3);
	assert_near(s.time[0], 1690394400, 0);
	assert_near(s.time[1], 1690394460, 0);
	assert_near(s.time[2], 1690394520, 0);
	assert_near(s.cpu[0], 0.00382233720423565, 1e-12);
	assert_near(s.cpu[2], 0.00370552474883112, 1e-12);
	assert_near(s.mem[0], 1460221747.2 / 4082933760.0, 1e-9);
	assert_near(s.mem[2], 1460735112.53333 / 4082933760.0, 1e-9);
	assert_near(s.netin[0], 9277.89, 1e-6);
	assert_near(s.netout[1], 2640.64, 1e-6);
	rrd_series_finish(&s);
	assert_null(s.time);
	assert_int_equal(s.len, 0);
}

/* A stopped VM: 70 points with only time and the max* keys; every value is a gap. */
static void test_stopped_vm_has_only_gaps(void **state)
{
	(void)state;
	struct rrd_series s;
	parse_fixture("qemu_rrddata_hour_stopped_vm.json", &s);
	assert_int_equal(s.len, 70);
	assert_near(s.time[0], 1693110660, 0);
	assert_near(s.time[69], 1693114800, 0);
	for (size_t i = 0; i < s.len; i++) {
		if (i > 0) {
			assert_near(s.time[i] - s.time[i - 1], 60, 0);
		}
		/* maxmem alone is no memory figure, and no cpu key means no cpu figure */
		assert_true(isnan(s.cpu[i]));
		assert_true(isnan(s.mem[i]));
		assert_true(isnan(s.netin[i]));
		assert_true(isnan(s.netout[i]));
	}
	rrd_series_finish(&s);
}

/* A node that rebooted within the hour: the points of the outage carry only their time. */
static void test_node_reboot_gap(void **state)
{
	(void)state;
	struct rrd_series s;
	parse_fixture("node_rrddata_hour_reboot.json", &s);
	assert_int_equal(s.len, 70);
	for (size_t i = 0; i < s.len; i++) {
		bool gap = i >= 40 && i < 44;
		assert_int_equal(isnan(s.cpu[i]), gap);
		assert_int_equal(isnan(s.mem[i]), gap);
		if (!gap) {
			assert_true(s.cpu[i] >= 0 && s.cpu[i] <= 1);
		}
	}
	assert_near(s.cpu[69], 0.5, 1e-12);
	assert_near(s.mem[69], 0.319, 1e-9);
	assert_near(s.mem[0], 0.25, 1e-9);
	rrd_series_finish(&s);
}

/* A running guest uses mem/maxmem; numbers may come as strings. */
static void test_guest_keys_and_strings(void **state)
{
	(void)state;
	struct rrd_series s;
	parse_ok("{\"data\":[{\"time\":1000,\"cpu\":\"0.25\",\"mem\":1073741824,"
	         "\"maxmem\":4294967296,\"netin\":\"512.5\",\"netout\":10}]}",
	         &s);
	assert_int_equal(s.len, 1);
	assert_near(s.cpu[0], 0.25, 1e-12);
	assert_near(s.mem[0], 0.25, 1e-12);
	assert_near(s.netin[0], 512.5, 1e-12);
	assert_near(s.netout[0], 10, 1e-12);
	rrd_series_finish(&s);
}

/* Points out of order are sorted; points without a time, non-objects, and unusable values do not
 * become data. */
static void test_odd_points(void **state)
{
	(void)state;
	struct rrd_series s;
	parse_ok("{\"data\":[{\"time\":1120,\"cpu\":0.3,\"memused\":1,\"memtotal\":4},"
	         "{\"cpu\":0.9},"
	         "42,"
	         "{\"time\":1000,\"cpu\":0.1,\"memused\":2,\"memtotal\":0},"
	         "{\"time\":1060,\"cpu\":\"n/a\",\"memused\":-5,\"memtotal\":4,\"netin\":null}]}",
	         &s);
	assert_int_equal(s.len, 3);
	assert_near(s.time[0], 1000, 0);
	assert_near(s.time[1], 1060, 0);
	assert_near(s.time[2], 1120, 0);
	assert_near(s.cpu[0], 0.1, 1e-12);
	assert_true(isnan(s.mem[0])); /* memtotal 0: no fraction, not infinity */
	assert_true(isnan(s.cpu[1]));
	assert_true(isnan(s.mem[1]));
	assert_true(isnan(s.netin[1]));
	assert_near(s.cpu[2], 0.3, 1e-12);
	assert_near(s.mem[2], 0.25, 1e-12);
	rrd_series_finish(&s);
}

static void test_empty_list(void **state)
{
	(void)state;
	struct rrd_series s;
	parse_ok("{\"data\":[]}", &s);
	assert_int_equal(s.len, 0);
	rrd_series_finish(&s);
}

/* Shapes that are no rrddata answer fail with ERR_MALFORMED and leave out alone. */
static void test_malformed(void **state)
{
	(void)state;
	const char *bad[] = {
	        "",
	        "<html>501 not implemented</html>",
	        "{\"data\":null}",
	        "{\"data\":{\"time\":1}}",
	        "[{\"time\":1}]",
	        "{\"errors\":{\"timeframe\":\"value 'minute' does not have a value in the "
	        "enumeration\"},\"data\":null}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);
		char *body = xmalloc(len + 1);
		memcpy(body, bad[i], len);
		struct rrd_series s = {.len = 12345};
		struct err e;
		err_clear(&e);
		assert_false(pve_parse_rrddata(body, len, &s, &e));
		assert_int_equal(e.code, ERR_MALFORMED);
		assert_true(strstr(e.msg, "rrddata") != NULL);
		assert_int_equal(s.len, 12345);
		assert_null(s.time);
		free(body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_node_hour),
	        cmocka_unit_test(test_stopped_vm_has_only_gaps),
	        cmocka_unit_test(test_node_reboot_gap),
	        cmocka_unit_test(test_guest_keys_and_strings),
	        cmocka_unit_test(test_odd_points),
	        cmocka_unit_test(test_empty_list),
	        cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
