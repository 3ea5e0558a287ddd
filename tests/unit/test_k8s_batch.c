/* test_k8s_batch.c: the CronJob list, a Job's state from its conditions (wherever Complete or
 * Failed stands), the manual Job name, and the Job built from a CronJob compared member by member
 * with what kubectl's createJobFromCronJob sends for the same CronJob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "k8s_batch.h"
#include "support.h"

static void test_cronjob_list(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture("k8s-batch", "cronjob-list.json", &len);
	struct k8s_cronjobs l;
	struct err e;
	assert_true(k8s_batch_parse_cronjobs(body, len, &l, &e));
	assert_int_equal(l.len, 2);
	assert_string_equal(l.items[0].name, "activeJobsCronJob");
	assert_string_equal(l.items[0].ns, "default");
	assert_string_equal(l.items[0].schedule, "*/1 * * * *");
	assert_string_equal(l.items[0].last_schedule, "2020-08-20T18:00:00Z");
	assert_int_equal(l.items[0].active, 1);
	assert_string_equal(l.items[1].name, "hello");
	assert_null(l.items[1].last_schedule); /* never scheduled */
	assert_int_equal(l.items[1].active, 0);
	k8s_cronjobs_finish(&l);
	free(body);
	assert_false(k8s_batch_parse_cronjobs("{\"items\":[{\"metadata\":{}}]}", 28, &l, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_false(k8s_batch_parse_cronjobs("<html>", 6, &l, &e));
}

static enum k8s_job_state job_state(const char *fixture, struct k8s_job_status *st)
{
	size_t len;
	char *body = support_fixture("k8s-batch", fixture, &len);
	struct err e;
	assert_true(k8s_batch_parse_job(body, len, st, &e));
	free(body);
	return st->state;
}

static void test_job_states(void **state)
{
	(void)state;
	struct k8s_job_status st;
	/* SuccessCriteriaMet comes first: Complete is found wherever it stands */
	assert_int_equal(job_state("job-status-complete.json", &st), K8S_JOB_COMPLETE);
	assert_int_equal(st.succeeded, 1);
	assert_string_equal(st.reason, "CompletionsReached");
	k8s_job_status_finish(&st);
	assert_int_equal(job_state("job-status-failed.json", &st), K8S_JOB_FAILED);
	assert_int_equal(st.failed, 7);
	assert_string_equal(st.reason, "BackoffLimitExceeded");
	assert_string_equal(st.message, "Job has reached the specified backoff limit");
	k8s_job_status_finish(&st);
	assert_int_equal(job_state("job-status-running.json", &st), K8S_JOB_ACTIVE);
	assert_int_equal(st.active, 1);
	k8s_job_status_finish(&st);
	struct err e;
	const char *pending = "{\"status\":{}}";
	assert_true(k8s_batch_parse_job(pending, strlen(pending), &st, &e));
	assert_int_equal(st.state, K8S_JOB_PENDING);
	/* a condition that is not True decides nothing */
	const char *notyet = "{\"status\":{\"active\":1,\"conditions\":[{\"type\":\"Failed\","
	                     "\"status\":\"False\"}]}}";
	assert_true(k8s_batch_parse_job(notyet, strlen(notyet), &st, &e));
	assert_int_equal(st.state, K8S_JOB_ACTIVE);
	assert_string_equal(k8s_job_state_name(K8S_JOB_FAILED), "failed");
}

static void test_manual_name(void **state)
{
	(void)state;
	char *n = k8s_batch_manual_name("rag-reindex", 12345);
	assert_int_equal(strlen(n), strlen("rag-reindex-manual-") + 5);
	assert_memory_equal(n, "rag-reindex-manual-", 19);
	for (const char *p = n + 19; *p; p++) {
		assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
	}
	char *m = k8s_batch_manual_name("rag-reindex", 12346);
	assert_string_not_equal(n, m);
	free(n);
	free(m);
	char longname[80];
	memset(longname, 'a', 70);
	longname[49] = '-';
	longname[70] = '\0';
	n = k8s_batch_manual_name(longname, 1);
	assert_true(strlen(n) <= 63);
	assert_null(strstr(n, "--")); /* the cut fell on a dash: dropped */
	free(n);
}

static void test_job_from_cronjob(void **state)
{
	(void)state;
	size_t len, wlen;
	char *cj = support_fixture("k8s-batch", "cronjob.json", &len);
	char *want_text = support_fixture("k8s-batch", "job-from-cronjob.kubectl.json", &wlen);
	struct err e;
	char *job = k8s_batch_job_from_cronjob(cj, len, "hello-manual-001", &e);
	assert_non_null(job);
	json_t *got = json_loads(job, 0, NULL);
	json_t *want = json_loads(want_text, 0, NULL);
	assert_non_null(got);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS);
		char *w = json_dumps(want, JSON_SORT_KEYS);
		fail_msg("got  %s\nwant %s", g, w);
	}
	/* no blockOwnerDeletion (kubectl leaves it out: it needs the cronjobs/finalizers role) */
	assert_null(strstr(job, "blockOwnerDeletion"));
	json_decref(got);
	json_decref(want);
	free(job);
	/* the template's own annotation wins over instantiate, as in kubectl */
	const char *over =
	        "{\"metadata\":{\"name\":\"x\",\"uid\":\"u\"},\"spec\":{\"jobTemplate\":{"
	        "\"metadata\":{\"annotations\":{\"cronjob.kubernetes.io/instantiate\":"
	        "\"mine\"}},\"spec\":{}}}}";
	job = k8s_batch_job_from_cronjob(over, strlen(over), "x-manual-bbbbb", &e);
	assert_non_null(strstr(job, "\"cronjob.kubernetes.io/instantiate\":\"mine\""));
	free(job);
	const char *nouid =
	        "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"jobTemplate\":{\"spec\":{}}}}";
	assert_null(k8s_batch_job_from_cronjob(nouid, strlen(nouid), "x-manual-bbbbb", &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_non_null(strstr(e.msg, "metadata.uid"));
	free(cj);
	free(want_text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cronjob_list),
	        cmocka_unit_test(test_job_states),
	        cmocka_unit_test(test_manual_name),
	        cmocka_unit_test(test_job_from_cronjob),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
