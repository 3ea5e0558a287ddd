/* test_airflow.c: the Airflow 2 and 3 answers (real ones from the research fixtures): DAG runs,
 * task instances, the version and the token, both error shapes (problem+json, {"detail"} as a
 * string, a validation list or an object), and the trigger body each API wants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "airflow.h"
#include "support.h"

static void test_runs(void **state)
{
	(void)state;
	size_t len;
	struct err e;
	char *body = support_fixture("airflow", "v1-list-dagruns.json", &len);
	char *st = NULL;
	assert_true(airflow_parse_last_state(body, len, &st, &e));
	assert_string_equal(st, "success");
	free(st);
	free(body);
	assert_true(airflow_parse_last_state("{\"dag_runs\":[],\"total_entries\":0}",
	                                     strlen("{\"dag_runs\":[],\"total_entries\":0}"), &st,
	                                     &e));
	assert_null(st); /* never ran */
	body = support_fixture("airflow", "v2-post-dagrun.json", &len);
	struct airflow_run r;
	assert_true(airflow_parse_run(body, len, &r, &e));
	assert_string_equal(r.run_id, "manual__2025-09-05T08:26:29.821813+00:00");
	assert_string_equal(r.state, "queued");
	assert_false(airflow_run_state_done(r.state));
	airflow_run_finish(&r);
	free(body);
	body = support_fixture("airflow", "v2-dagrun-item.json", &len);
	assert_true(airflow_parse_run(body, len, &r, &e));
	assert_string_equal(r.state, "failed");
	assert_true(airflow_run_state_done(r.state));
	assert_true(airflow_run_state_done("success"));
	assert_false(airflow_run_state_done("running"));
	airflow_run_finish(&r);
	free(body);
	assert_false(airflow_parse_run("{\"state\":\"queued\"}", strlen("{\"state\":\"queued\"}"),
	                               &r, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
}

static void test_tasks_dags_version_token(void **state)
{
	(void)state;
	size_t len;
	struct err e;
	char *body = support_fixture("airflow", "v2-taskinstances.json", &len);
	struct airflow_tasks t;
	assert_true(airflow_parse_tasks(body, len, &t, &e));
	assert_int_equal(t.len, 2);
	assert_string_equal(t.items[0].task_id, "print_the_context");
	assert_string_equal(t.items[0].state, "running");
	assert_null(t.items[1].state);
	airflow_tasks_finish(&t);
	free(body);
	const char *dags = "{\"dags\":[{\"dag_id\":\"a\",\"is_paused\":true},{\"dag_id\":\"b\","
	                   "\"is_paused\":null}],\"total_entries\":2}";
	struct airflow_dags d;
	assert_true(airflow_parse_dags(dags, strlen(dags), &d, &e));
	assert_int_equal(d.len, 2);
	assert_true(d.items[0].paused);
	assert_false(d.items[1].paused);
	airflow_dags_finish(&d);
	assert_false(airflow_parse_dags("{\"dags\":[{\"dag_id\":\"a\"}]}",
	                                strlen("{\"dags\":[{\"dag_id\":\"a\"}]}"), &d, &e));
	const char *mal = "{\"dags\": [{\"dag_id\": \"x\", \"is_paused\": fal<html>";
	assert_false(airflow_parse_dags(mal, strlen(mal), &d, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	int major = 0;
	assert_true(airflow_parse_version("{\"version\":\"3.0.6\",\"git_version\":null}", 38,
	                                  &major, &e));
	assert_int_equal(major, 3);
	assert_true(airflow_parse_version("{\"version\":\"2.10.5\"}",
	                                  strlen("{\"version\":\"2.10.5\"}"), &major, &e));
	assert_int_equal(major, 2);
	assert_false(airflow_parse_version("{}", strlen("{}"), &major, &e));
	char *tok = NULL;
	assert_true(airflow_parse_token("{\"access_token\":\"eyJ.x.y\"}",
	                                strlen("{\"access_token\":\"eyJ.x.y\"}"), &tok, &e));
	assert_string_equal(tok, "eyJ.x.y");
	free(tok);
	assert_false(
	        airflow_parse_token("{\"detail\":\"x\"}", strlen("{\"detail\":\"x\"}"), &tok, &e));
}

static void detail_of(const char *fixture, char *out, size_t size)
{
	size_t len;
	char *body = support_fixture("airflow", fixture, &len);
	airflow_error_detail(body, len, out, size);
	free(body);
}

static void test_error_detail(void **state)
{
	(void)state;
	char d[300];
	detail_of("v1-error-400.json", d, sizeof(d));
	assert_string_equal(d, "{'executiondate': ['Unknown field.']}");
	detail_of("v2-error-404-dag-not-found.json", d, sizeof(d));
	assert_string_equal(d, "DAG with dag_id: 'randoms' not found");
	detail_of("v2-error-400-import-errors.json", d, sizeof(d));
	assert_string_equal(d, "DAG with dag_id: 'import_errors' has import errors and cannot be "
	                       "triggered");
	detail_of("v2-error-422-validation.json", d, sizeof(d));
	assert_string_equal(d, "body.executiondate: Extra inputs are not permitted");
	const char *obj = "{\"detail\":{\"reason\":\"Unique constraint violation\",\"message\":"
	                  "\"Serious error\"}}";
	airflow_error_detail(obj, strlen(obj), d, sizeof(d));
	assert_string_equal(d, "Unique constraint violation: Serious error");
	const char *v1_401 = "{\"detail\":null,\"status\":401,\"title\":\"Unauthorized\"}";
	airflow_error_detail(v1_401, strlen(v1_401), d, sizeof(d));
	assert_string_equal(d, "Unauthorized");
	airflow_error_detail("<html>404</html>", strlen("<html>404</html>"), d, sizeof(d));
	assert_string_equal(d, "");
}

static void test_trigger_body(void **state)
{
	(void)state;
	struct err e;
	char *b = airflow_trigger_body(AIRFLOW_API_V1, NULL, &e);
	assert_string_equal(b, "{\"conf\":{}}");
	free(b);
	/* Airflow 3.0 wants the key logical_date (null: now) or answers 422 */
	b = airflow_trigger_body(AIRFLOW_API_V2, "{\"full\": true}", &e);
	assert_string_equal(b, "{\"conf\":{\"full\":true},\"logical_date\":null}");
	free(b);
	assert_null(airflow_trigger_body(AIRFLOW_API_V1, "[1]", &e));
	assert_int_equal(e.code, ERR_USAGE);
	assert_null(airflow_trigger_body(AIRFLOW_API_V1, "{bad", &e));
	assert_int_equal(e.code, ERR_USAGE);
	char *h = airflow_basic_header("admin", "s3cret");
	assert_string_equal(h, "Authorization: Basic YWRtaW46czNjcmV0");
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_runs),
	        cmocka_unit_test(test_tasks_dags_version_token),
	        cmocka_unit_test(test_error_detail),
	        cmocka_unit_test(test_trigger_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
