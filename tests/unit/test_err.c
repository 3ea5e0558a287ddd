/* test_err.c: the error record — exit statuses per SPEC.md §3, the code of an HTTP status, the
 * worse of two failures, and secrets redacted from every message err_set writes (a server that
 * echoes a token back cannot make labdeck print it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void test_exit_statuses(void **state)
{
	(void)state;
	assert_int_equal(err_exit_status(ERR_NONE), 0);
	assert_int_equal(err_exit_status(ERR_USAGE), 2);
	assert_int_equal(err_exit_status(ERR_CONFIG), 2);
	assert_int_equal(err_exit_status(ERR_TIMEOUT), 3);
	assert_int_equal(err_exit_status(ERR_MALFORMED), 3);
	assert_int_equal(err_exit_status(ERR_AUTH), 4);
	assert_int_equal(err_exit_status(ERR_REJECTED), 1);
	assert_int_equal(err_code_for_status(401), ERR_AUTH);
	assert_int_equal(err_code_for_status(403), ERR_AUTH);
	assert_int_equal(err_code_for_status(404), ERR_NOT_FOUND);
	assert_int_equal(err_code_for_status(429), ERR_RATE_LIMIT);
	assert_int_equal(err_code_for_status(503), ERR_SERVER);
	assert_int_equal(err_code_for_status(409), ERR_REJECTED);
	assert_int_equal(err_worse_exit(1, 4), 4);
	assert_int_equal(err_worse_exit(3, 1), 3);
}

static void test_secret_redacted(void **state)
{
	(void)state;
	err_secret_add("s3cr3t-token-4f9a");
	err_secret_add("short"); /* under 8 bytes: not a secret worth blanking words for */
	struct err e;
	assert_false(
	        err_set(&e, ERR_AUTH, 401, "proxmox: 401 bad token s3cr3t-token-4f9a (short)"));
	assert_string_equal(e.msg, "proxmox: 401 bad token *** (short)");
	assert_int_equal(e.code, ERR_AUTH);
	assert_int_equal(e.http_status, 401);

	/* twice in one message, and at the very end */
	err_set(&e, ERR_SERVER, 500, "a=s3cr3t-token-4f9a b=s3cr3t-token-4f9a");
	assert_string_equal(e.msg, "a=*** b=***");

	/* a secret that would straddle the 512-byte cut is redacted before the cut */
	char pad[520];
	memset(pad, 'x', 500);
	pad[500] = '\0';
	err_set(&e, ERR_SERVER, 0, "%s s3cr3t-token-4f9a", pad);
	assert_null(strstr(e.msg, "s3cr3t"));
	assert_null(strstr(e.msg, "s3c"));

	char s[] = "url https://h/api?key=s3cr3t-token-4f9a&x=1";
	err_secret_redact(s);
	assert_string_equal(s, "url https://h/api?key=***&x=1");

	/* pieces of 12 bytes or more: a server that cuts what it echoes still gives them away */
	err_set(&e, ERR_AUTH, 401, "invalid token 's3cr3t-token...'");
	assert_string_equal(e.msg, "invalid token '***...'");
	err_set(&e, ERR_AUTH, 401, "token ending t-token-4f9a; t-token-4f9 is 11 bytes");
	assert_string_equal(e.msg, "token ending ***; t-token-4f9 is 11 bytes");
	err_secret_add("pw-9chars");
	err_set(&e, ERR_AUTH, 401, "password pw-9chars, not pw-9char");
	assert_string_equal(e.msg, "password ***, not pw-9char"); /* a short one only whole */

	/* a URL counts only whole: its start is any URL's on that host */
	err_secret_add("http://127.0.0.1:8080/api/webhooks/1/tok");
	err_set(&e, ERR_NETWORK, 0, "cannot connect to http://127.0.0.1:9/api/chat");
	assert_string_equal(e.msg, "cannot connect to http://127.0.0.1:9/api/chat");

	err_secret_clear();
	err_set(&e, ERR_SERVER, 0, "s3cr3t-token-4f9a");
	assert_string_equal(e.msg, "s3cr3t-token-4f9a"); /* forgotten */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exit_statuses),
	        cmocka_unit_test(test_secret_redacted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
