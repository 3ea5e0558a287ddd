/* test_quantity.c: Kubernetes quantities as the API server writes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "quantity.h"

static int64_t milli(const char *s)
{
	int64_t v = -12345;
	assert_true(quantity_parse_milli(s, &v));
	return v;
}

static int64_t nano(const char *s)
{
	int64_t v = -12345;
	assert_true(quantity_parse_nano(s, &v));
	return v;
}

static int64_t whole(const char *s)
{
	int64_t v = -12345;
	assert_true(quantity_parse_int(s, &v));
	return v;
}

static void test_cpu(void **state)
{
	(void)state;
	assert_int_equal(milli("4"), 4000);
	assert_int_equal(milli("3900m"), 3900);
	assert_int_equal(milli("100m"), 100);
	assert_int_equal(milli("1.5"), 1500);
	assert_int_equal(milli("0.25"), 250);
	assert_int_equal(milli(".5"), 500);
	assert_int_equal(milli("5."), 5000);
	/* 321069224 nanocores = 321.069224 millicores, rounded up. */
	assert_int_equal(milli("321069224n"), 322);
	assert_int_equal(nano("321069224n"), 321069224);
	assert_int_equal(nano("4"), 4000000000LL);
	assert_int_equal(nano("3900m"), 3900000000LL);
	assert_int_equal(nano("250u"), 250000);
	assert_int_equal(milli("1u"), 1); /* a thousandth of a millicore rounds up to one */
	assert_int_equal(milli("0"), 0);
	assert_int_equal(milli("0m"), 0);
}

static void test_memory(void **state)
{
	(void)state;
	assert_int_equal(whole("16314928Ki"), 16314928LL * 1024);
	assert_int_equal(whole("8165556Ki"), 8165556LL * 1024);
	assert_int_equal(whole("1597272Ki"), 1597272LL * 1024);
	assert_int_equal(whole("16Gi"), 16LL << 30);
	assert_int_equal(whole("0.5Gi"), 512LL << 20);
	assert_int_equal(whole("1.5Mi"), 1572864);
	assert_int_equal(whole("170Mi"), 170LL << 20);
	assert_int_equal(whole("100M"), 100000000);
	assert_int_equal(whole("1k"), 1000);
	assert_int_equal(whole("2T"), 2000000000000LL);
	assert_int_equal(whole("3P"), 3000000000000000LL);
	assert_int_equal(whole("1E"), 1000000000000000000LL);
	assert_int_equal(whole("1Ti"), 1LL << 40);
	assert_int_equal(whole("1Pi"), 1LL << 50);
	assert_int_equal(whole("1Ei"), 1LL << 60);
	assert_int_equal(whole("15625027559"), 15625027559LL);
	assert_int_equal(whole("1.5"), 2); /* rounded up */
	assert_int_equal(whole("500m"), 1);
	assert_int_equal(whole("129e6"), 129000000);
}

static void test_exponent(void **state)
{
	(void)state;
	assert_int_equal(whole("1e3"), 1000);
	assert_int_equal(whole("1E3"), 1000);
	assert_int_equal(whole("1e+3"), 1000);
	assert_int_equal(milli("1E-2"), 10);
	assert_int_equal(milli("25e-3"), 25);
	assert_int_equal(whole("12.5e1"), 125);
	assert_int_equal(whole("0e999999999999"), 0);
	assert_int_equal(whole("1e-999999999999"), 1);
}

static void test_sign(void **state)
{
	(void)state;
	assert_int_equal(whole("-1Ki"), -1024);
	assert_int_equal(whole("+5"), 5);
	assert_int_equal(milli("-100m"), -100);
}

static void test_saturates(void **state)
{
	(void)state;
	assert_int_equal(whole("8Ei"), INT64_MAX);
	assert_int_equal(whole("9223372036854775807"), INT64_MAX);
	assert_int_equal(whole("9223372036854775808"), INT64_MAX);
	assert_int_equal(whole("99999999999999999999999999999999999999999999"), INT64_MAX);
	assert_int_equal(nano("10000000000"), INT64_MAX);
	assert_int_equal(nano("9223372036"), 9223372036000000000LL);
	assert_int_equal(whole("1e400"), INT64_MAX);
	assert_int_equal(whole("-1e400"), -INT64_MAX);
	assert_int_equal(whole("123456789012345678901234567890Ei"), INT64_MAX);
	/* Digits beyond the kept precision still make the value round up. */
	assert_int_equal(whole("1.0000000000000000000000001"), 2);
	assert_int_equal(whole("1.0000000000000000000000000"), 1);
	assert_int_equal(whole("123456789012345678901"), INT64_MAX);
}

static void test_garbage(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",     "abc", "1.2.3", "5X",  "Ki",  "m",    ".",    "-",    "+",     "1e",
	        "1e+",  "1E-", "1ki",   "1KI", "1 ",  " 1",   "1 Ki", "1Kii", "1mm",   "1e3Ki",
	        "0x10", "1,5", "1..2",  "--1", "1Gb", "1Mi ", "e3",   "1ee3", "1e3.5", "١",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 77;
		if (quantity_parse_int(bad[i], &v) || quantity_parse_milli(bad[i], &v) ||
		    quantity_parse_nano(bad[i], &v)) {
			fail_msg("accepted garbage \"%s\"", bad[i]);
		}
		assert_int_equal(v, 77); /* untouched on failure */
	}
	int64_t v = 77;
	assert_false(quantity_parse_int(NULL, &v));
	assert_int_equal(v, 77);
}

/* Sums of quantities stop at the ends instead of wrapping (a hostile server's 9E requests). */
static void test_add(void **state)
{
	(void)state;
	assert_int_equal(quantity_add(2, 3), 5);
	assert_int_equal(quantity_add(-2, 3), 1);
	assert_int_equal(quantity_add(INT64_MAX, 73400320), INT64_MAX);
	assert_int_equal(quantity_add(INT64_MAX - 1, 1), INT64_MAX);
	assert_int_equal(quantity_add(INT64_MIN, -1), INT64_MIN);
	assert_int_equal(quantity_add(INT64_MAX, INT64_MIN), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cpu),       cmocka_unit_test(test_memory),
	        cmocka_unit_test(test_exponent),  cmocka_unit_test(test_sign),
	        cmocka_unit_test(test_saturates), cmocka_unit_test(test_garbage),
	        cmocka_unit_test(test_add),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
