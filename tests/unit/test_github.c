/* test_github.c: GitHub Actions answers (real shapes from tests/fixtures/github) into rows, the
 * dispatch body and answer, which run a dispatch created, and the error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "github.h"
#include "support.h"
#include "util.h"

static void test_workflows(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("github", "workflows-list.200.json", &len);
	struct github_workflow_list l;
	struct err e;
	assert_true(github_parse_workflows(body, len, &l, &e));
	assert_int_equal(l.len, 2);
	assert_int_equal(l.items[0].id, 1026390);
	assert_string_equal(l.items[0].path, ".github/workflows/check.yml");
	assert_string_equal(l.items[1].name, "Publish to PyPI");
	assert_string_equal(l.items[1].state, "active");
	github_workflow_list_finish(&l);
	free(body);
	assert_false(github_parse_workflows("{\"message\":\"x\"}", 15, &l, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
}

static void test_runs(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("github", "run-get.in_progress.200.json", &len);
	struct github_run r;
	struct err e;
	assert_true(github_parse_run(body, len, &r, &e));
	assert_int_equal(r.id, 3911660493LL);
	assert_string_equal(r.status, "in_progress");
	assert_null(r.conclusion);
	assert_false(github_run_done(&r));
	github_run_finish(&r);
	free(body);
	body = support_fixture_exact("github", "run-get.200.json", &len);
	assert_true(github_parse_run(body, len, &r, &e));
	assert_true(github_run_done(&r));
	assert_true(github_run_ok(&r));
	assert_true(r.created > 1.6e9);
	github_run_finish(&r);
	free(body);
	body = support_fixture_exact("github", "workflow-runs-list.branch-filter.200.json", &len);
	struct github_run_list l;
	assert_true(github_parse_runs(body, len, &l, &e));
	assert_int_equal(l.len, 2); /* total_count 6: one page of the fixture */
	assert_int_equal(l.items[0].id, 109950033);
	assert_string_equal(l.items[0].head_branch, "master");
	github_run_list_finish(&l);
	free(body);
}

static void test_jobs(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("github", "run-jobs-list.200.json", &len);
	struct github_job_list l;
	struct err e;
	assert_true(github_parse_jobs(body, len, &l, &e));
	assert_int_equal(l.len, 2);
	assert_string_equal(l.items[0].name, "test (Python 3.7)");
	assert_int_equal(l.items[0].n_steps, 9);
	assert_int_equal(l.items[0].steps[0].number, 1);
	assert_string_equal(l.items[0].steps[0].conclusion, "success");
	github_job_list_finish(&l);
	free(body);
}

static void test_dispatch(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact(
	        "github", "workflow-dispatch.200-return-run-details.SYNTHETIC.json", &len);
	int64_t id;
	struct err e;
	assert_true(github_parse_dispatch(body, len, &id, &e));
	assert_int_equal(id, 123456789);
	free(body);
	assert_true(github_parse_dispatch("", 0, &id, &e));
	assert_int_equal(id, 0);
	assert_false(github_parse_dispatch("<html>", 6, &id, &e));
	const char *k[] = {"image_tag", "model"}, *v[] = {"v1", "qwen"};
	char *b = github_dispatch_body("main", k, v, 2);
	assert_string_equal(
	        b, "{\"ref\":\"main\",\"inputs\":{\"image_tag\":\"v1\",\"model\":\"qwen\"},"
	           "\"return_run_details\":true}");
	free(b);
}

static void test_pick_run(void **state)
{
	(void)state;
	struct github_run items[] = {
	        {.id = 10,
	         .workflow_id = 7,
	         .event = "workflow_dispatch",
	         .head_branch = "main",
	         .path = ".github/workflows/deploy-models.yml",
	         .created = 1000},
	        {.id = 11,
	         .workflow_id = 7,
	         .event = "workflow_dispatch",
	         .head_branch = "main",
	         .path = ".github/workflows/deploy-models.yml",
	         .created = 1005},
	        {.id = 12,
	         .workflow_id = 7,
	         .event = "push",
	         .head_branch = "main",
	         .path = ".github/workflows/deploy-models.yml",
	         .created = 1004},
	        {.id = 13,
	         .workflow_id = 7,
	         .event = "workflow_dispatch",
	         .head_branch = "dev",
	         .path = ".github/workflows/deploy-models.yml",
	         .created = 1004},
	        {.id = 14,
	         .workflow_id = 8,
	         .event = "workflow_dispatch",
	         .head_branch = "main",
	         .path = ".github/workflows/deploy-gateway.yml",
	         .created = 1004},
	        {.id = 15,
	         .workflow_id = 7,
	         .event = "workflow_dispatch",
	         .head_branch = "main",
	         .path = ".github/workflows/deploy-models.yml",
	         .created = 1004},
	};
	struct github_run_list l = {items, 6};
	/* since 1004.7 rounds down to 1004: 15 is the oldest after it; 10 is before */
	assert_int_equal(github_pick_run(&l, "deploy-models.yml", "main", 1004.7, NULL, 0), 5);
	int64_t skip[] = {15};
	assert_int_equal(github_pick_run(&l, "deploy-models.yml", "main", 1004.7, skip, 1), 1);
	assert_int_equal(github_pick_run(&l, "7", "dev", 1000, NULL, 0), 3);
	assert_int_equal(github_pick_run(&l, "deploy-gateway.yml", "main", 1005, NULL, 0), -1);
	assert_int_equal(github_pick_run(&l, "deploy-models.yml", "main", 1006, NULL, 0), -1);
}

static void test_errors(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture_exact("github", "workflow-dispatch.422-no-trigger.json", &len);
	struct http_response resp = {.status = 422, .body = body, .len = len, .retry_after = -1};
	struct err in, out;
	err_set(&in, ERR_REJECTED, 422, "x");
	github_error_from_response(&out, &resp, &in, "dispatch bootstrap.yaml", "dev");
	assert_int_equal(out.code, ERR_REJECTED);
	assert_non_null(strstr(out.msg, "Workflow does not have 'workflow_dispatch' trigger"));
	assert_non_null(strstr(out.msg, "on dev"));
	assert_non_null(strstr(out.msg, "not on that ref"));
	free(body);
	body = support_fixture_exact("github", "error.403-primary-rate-limit-2013.json", &len);
	resp = (struct http_response){.status = 403, .body = body, .len = len, .retry_after = -1};
	github_error_from_response(&out, &resp, &in, "GET /x", NULL);
	assert_int_equal(out.code, ERR_RATE_LIMIT);
	free(body);
	body = support_fixture_exact("github", "error.401-bad-credentials.json", &len);
	resp = (struct http_response){.status = 401, .body = body, .len = len, .retry_after = -1};
	github_error_from_response(&out, &resp, &in, "GET /x", NULL);
	assert_int_equal(out.code, ERR_AUTH);
	assert_non_null(strstr(out.msg, "Bad credentials"));
	free(body);
	assert_true(github_is_rate_limited(429, NULL));
	assert_true(
	        github_is_rate_limited(403, "You have triggered an abuse detection mechanism."));
	assert_false(
	        github_is_rate_limited(403, "Resource not accessible by personal access token"));
}

/* The console's "run with inputs" line: the CLI's words, split as a shell splits them. */
static void test_run_line(void **state)
{
	(void)state;
	struct github_run_request r;
	struct err e;
	err_clear(&e);
	assert_true(github_parse_run_line(
	        "--ref release/1.2 env=prod note='two words' --input tag=\"v 1\" x=a=b empty= "
	        "env=staging --ref=main",
	        "develop", &r, &e));
	assert_string_equal(r.ref, "main");
	assert_int_equal(r.n, 5);
	assert_string_equal(r.keys[0], "env");
	assert_string_equal(r.values[0], "staging"); /* given twice: the last */
	assert_string_equal(r.values[1], "two words");
	assert_string_equal(r.keys[2], "tag");
	assert_string_equal(r.values[2], "v 1");
	assert_string_equal(r.keys[3], "x");
	assert_string_equal(r.values[3], "a=b");
	assert_string_equal(r.values[4], "");
	char *body = github_dispatch_body(r.ref, (const char *const *)r.keys,
	                                  (const char *const *)r.values, r.n);
	assert_string_equal(body,
	                    "{\"ref\":\"main\",\"inputs\":{\"env\":\"staging\",\"note\":\"two "
	                    "words\",\"tag\":\"v 1\",\"x\":\"a=b\",\"empty\":\"\"},"
	                    "\"return_run_details\":true}");
	free(body);
	github_run_request_finish(&r);

	assert_true(github_parse_run_line("   ", "main", &r, &e)); /* nothing: the default ref */
	assert_string_equal(r.ref, "main");
	assert_int_equal(r.n, 0);
	github_run_request_finish(&r);
	assert_true(github_parse_run_line("a=\\'b\\ c", "main", &r, &e));
	assert_string_equal(r.values[0], "'b c");
	github_run_request_finish(&r);

	static const char *const bad[][2] = {
	        {"env", "'env' is not an input"},
	        {"=x", "'=x' is not an input"},
	        {"--ref", "--ref wants a value"},
	        {"--input", "--input wants a value"},
	        {"--ref=", "--ref wants a branch"},
	        {"a='open", "a quote is not closed"},
	        {"--input nokey", "'nokey' is not an input"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		assert_false(github_parse_run_line(bad[i][0], "main", &r, &e));
		assert_int_equal(e.code, ERR_USAGE);
		if (!strstr(e.msg, bad[i][1])) {
			fail_msg("%s: %s", bad[i][0], e.msg);
		}
		github_run_request_finish(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_workflows), cmocka_unit_test(test_runs),
	        cmocka_unit_test(test_jobs),      cmocka_unit_test(test_dispatch),
	        cmocka_unit_test(test_pick_run),  cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_run_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
