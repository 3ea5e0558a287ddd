/* test_argocd.c: Argo CD answers (real shapes from tests/fixtures/argocd) into rows, the error
 * messages and the decision of where a followed operation stands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "argocd.h"
#include "support.h"
#include "util.h"

static void test_parse_get(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("argocd", "application-get.json", &len);
	struct argocd_app a;
	struct err e;
	assert_true(argocd_parse_app(body, len, &a, &e));
	assert_string_equal(a.sync, "Synced");
	assert_string_equal(a.health, "Healthy");
	assert_string_equal(a.revision, "0d521c6e049889134f3122eb32d7ed342f43ca0d");
	assert_string_equal(a.phase, "Succeeded");
	assert_string_equal(a.op_message, "successfully synced (all tasks run)");
	assert_string_equal(a.op_started, "2025-09-12T17:26:18Z");
	argocd_app_finish(&a);
	free(body);
}

static void test_parse_list(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("argocd", "applications-list.trimmed.json", &len);
	struct argocd_app_list l;
	struct err e;
	assert_true(argocd_parse_list(body, len, &l, &e));
	assert_int_equal(l.len, 5);
	assert_string_equal(l.items[0].name, "diagon-daily-prophet");
	assert_string_equal(l.items[0].phase, "Error");
	assert_string_equal(l.items[2].sync, "Unknown");
	assert_string_equal(l.items[3].health, "Progressing");
	argocd_app_list_finish(&l);
	free(body);
	const char *empty = "{\"metadata\":{},\"items\":null}";
	assert_true(argocd_parse_list(empty, strlen(empty), &l, &e));
	assert_int_equal(l.len, 0);
	argocd_app_list_finish(&l);
	const char *bad = "{\"items\":[{\"status\":{}}]}";
	assert_false(argocd_parse_list(bad, strlen(bad), &l, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_false(argocd_parse_list("{\"items\":[", 10, &l, &e));
}

static void test_error_text(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("argocd", "error.400-another-operation-in-progress.json",
	                                   &len);
	char *t = argocd_error_text(body, len);
	assert_string_equal(t, "another operation is already in progress");
	free(t);
	free(body);
	body = support_fixture_exact("argocd", "error.401-token-expired.json", &len);
	t = argocd_error_text(body, len);
	assert_non_null(strstr(t, "token is expired"));
	free(t);
	free(body);
	assert_null(argocd_error_text("<html>", 6));
}

static void test_error_from_response(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("argocd", "error.403-permission-denied.json", &len);
	struct http_response resp = {.status = 403, .body = body, .len = len, .retry_after = -1};
	struct err in, out;
	err_set(&in, ERR_AUTH, 403, "x");
	argocd_error_from_response(&out, &resp, &in, "sync nope");
	assert_int_equal(out.code, ERR_AUTH);
	assert_non_null(strstr(out.msg,
	                       "permission denied (ArgoCD also answers 403 for an app that does "
	                       "not exist)"));
	free(body);
	body = support_fixture_exact("argocd", "error.400-another-operation-in-progress.json",
	                             &len);
	resp = (struct http_response){.status = 400, .body = body, .len = len, .retry_after = -1};
	argocd_error_from_response(&out, &resp, &in, "sync gateway");
	assert_int_equal(out.code, ERR_REJECTED);
	assert_true(argocd_is_busy(&out));
	free(body);
	struct err net;
	err_set(&net, ERR_UNREACHABLE, 0, "argocd: connection refused");
	assert_false(argocd_is_busy(&net));
}

static void test_sync_body(void **state)
{
	(void)state;
	char *b = argocd_sync_body(NULL, true, false);
	assert_string_equal(b, "{\"prune\":true,\"dryRun\":false}");
	free(b);
	b = argocd_sync_body("abc", false, true);
	assert_string_equal(b, "{\"revision\":\"abc\",\"prune\":false,\"dryRun\":true}");
	free(b);
}

static void test_op_state(void **state)
{
	(void)state;
	struct argocd_app a = {0};
	assert_int_equal(argocd_op_state_of(&a, NULL), ARGOCD_OP_PENDING);
	a.phase = "Succeeded";
	a.op_started = "2025-09-12T17:26:18Z";
	/* the operation of before, still shown right after the POST */
	assert_int_equal(argocd_op_state_of(&a, "2025-09-12T18:00:00Z"), ARGOCD_OP_PENDING);
	assert_int_equal(argocd_op_state_of(&a, "2025-09-12T17:26:18Z"), ARGOCD_OP_SUCCEEDED);
	assert_int_equal(argocd_op_state_of(&a, NULL), ARGOCD_OP_SUCCEEDED);
	a.phase = "Running";
	assert_int_equal(argocd_op_state_of(&a, "2025-09-12T18:00:00Z"), ARGOCD_OP_RUNNING);
	a.phase = "Terminating";
	assert_int_equal(argocd_op_state_of(&a, NULL), ARGOCD_OP_RUNNING);
	a.phase = "Error";
	assert_int_equal(argocd_op_state_of(&a, NULL), ARGOCD_OP_FAILED);
	a.phase = "Failed";
	assert_int_equal(argocd_op_state_of(&a, "2025-09-12T17:00:00Z"), ARGOCD_OP_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_get),  cmocka_unit_test(test_parse_list),
	        cmocka_unit_test(test_error_text), cmocka_unit_test(test_error_from_response),
	        cmocka_unit_test(test_sync_body),  cmocka_unit_test(test_op_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
