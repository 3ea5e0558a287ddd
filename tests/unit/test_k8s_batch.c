/* test_k8s_batch.c: the CronJob list, a Job's state from its conditions (wherever Complete or
 * Failed stands), the manual Job name, and the Job built from a CronJob compared member by member
 * with what kubectl's createJobFromCronJob sends for the same CronJob. Suspend/resume runs against
 * an evhttp server on 127.0.0.1 (reached through a kubeconfig in a temporary file) that applies
 * the merge patch to a CronJob the way the apiserver does and answers with the result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "k8s.h"
#include "k8s_batch.h"
#include "support.h"
#include "util.h"

#define TOKEN "labdeck-test-token-0000"

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

static void test_cronjob_single(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture("k8s-batch", "cronjob.json", &len);
	struct k8s_cronjob c;
	struct err e;
	assert_true(k8s_batch_parse_cronjob(body, len, &c, &e));
	assert_string_equal(c.ns, "test-ns");
	assert_string_equal(c.name, "hello");
	assert_string_equal(c.schedule, "* * * * *");
	assert_false(c.suspend);
	assert_null(c.last_schedule);
	assert_int_equal(c.active, 0);
	k8s_cronjob_finish(&c);
	assert_null(c.name);
	free(body);
	const char *susp = "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"schedule\":\"@daily\","
	                   "\"suspend\":true},\"status\":{\"active\":[{},{}]}}";
	assert_true(k8s_batch_parse_cronjob(susp, strlen(susp), &c, &e));
	assert_true(c.suspend);
	assert_null(c.ns);
	assert_int_equal(c.active, 2);
	k8s_cronjob_finish(&c);
	/* the same rule as a list item: no schedule, no CronJob */
	const char *nosched = "{\"metadata\":{\"name\":\"x\"},\"spec\":{}}";
	assert_false(k8s_batch_parse_cronjob(nosched, strlen(nosched), &c, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_non_null(strstr(e.msg, "spec.schedule"));
	assert_false(k8s_batch_parse_cronjob("[1]", 3, &c, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_false(k8s_batch_parse_cronjob("<html>", 6, &c, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
}

/* ======== suspend/resume against a played apiserver ======== */

#define CJ_PATH "/apis/batch/v1/namespaces/test-ns/cronjobs/hello"

static const char status_403[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"cronjobs.batch \\\"hello\\\" is forbidden: User \\\"viewer\\\" cannot patch "
        "resource \\\"cronjobs\\\" in API group \\\"batch\\\" in the namespace \\\"locked\\\"\","
        "\"reason\":\"Forbidden\",\"details\":{\"name\":\"hello\",\"group\":\"batch\","
        "\"kind\":\"cronjobs\"},\"code\":403}";
static const char status_404[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"cronjobs.batch \\\"gone\\\" not found\",\"reason\":\"NotFound\","
        "\"details\":{\"name\":\"gone\",\"group\":\"batch\",\"kind\":\"cronjobs\"},\"code\":404}";
static const char status_503[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"the server is currently unable to handle the request\","
        "\"reason\":\"ServiceUnavailable\",\"code\":503}";

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	int port;
	char *kubeconfig; /* a temporary file */
	struct config_kubernetes cfg;
	struct http *http;
	struct k8s *k;

	/* what the server saw last */
	int requests;
	char method[16];
	char uri[512];
	char content_type[128];
	char body[512];
	bool bad_auth;
	bool hold; /* keep the next request unanswered */
	struct evhttp_request *held;
	bool stored_suspend; /* the CronJob's spec.suspend, as the server keeps it */

	/* the client's side */
	int calls;
	bool got_cronjob;
	char got_name[64];
	bool got_suspend;
	struct err got_err;
};

static const char *method_name(enum evhttp_cmd_type cmd)
{
	return cmd == EVHTTP_REQ_GET     ? "GET"
	       : cmd == EVHTTP_REQ_POST  ? "POST"
	       : cmd == EVHTTP_REQ_PUT   ? "PUT"
	       : cmd == EVHTTP_REQ_PATCH ? "PATCH"
	                                 : "OTHER";
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *body)
{
	support_reply(req, code, reason, "application/json", body, strlen(body));
}

/* apply_merge_patch answers a PATCH of test-ns/hello as the apiserver does: the stored CronJob
 * with the patch's spec.suspend merged in (RFC 7386: a JSON null deletes the field). */
static void apply_merge_patch(struct fixture *f, struct evhttp_request *req)
{
	json_t *patch = json_loads(f->body, 0, NULL);
	json_t *v = json_object_get(json_object_get(patch, "spec"), "suspend");
	if (!json_is_object(patch) || (v && !json_is_boolean(v) && !json_is_null(v))) {
		reply(req, 400, "Bad Request",
		      "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"bad patch\","
		      "\"reason\":\"BadRequest\",\"code\":400}");
		json_decref(patch);
		return;
	}
	if (v) {
		f->stored_suspend = json_is_true(v);
	}
	json_decref(patch);
	char *text = support_fixture("k8s-batch", "cronjob.json", NULL);
	json_t *cj = json_loads(text, 0, NULL);
	free(text);
	json_object_set_new(json_object_get(cj, "spec"), "suspend",
	                    json_boolean(f->stored_suspend));
	char *out = json_dumps(cj, JSON_COMPACT);
	reply(req, 200, "OK", out);
	free(out);
	json_decref(cj);
}

static void on_server_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	f->requests++;
	snprintf(f->method, sizeof(f->method), "%s", method_name(evhttp_request_get_command(req)));
	snprintf(f->uri, sizeof(f->uri), "%s", evhttp_request_get_uri(req));
	const char *ct = evhttp_find_header(in, "Content-Type");
	snprintf(f->content_type, sizeof(f->content_type), "%s", ct ? ct : "");
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(b);
	if (n >= sizeof(f->body)) {
		n = sizeof(f->body) - 1;
	}
	evbuffer_copyout(b, f->body, n);
	f->body[n] = '\0';
	if (!str_eq(evhttp_find_header(in, "Authorization"), "Bearer " TOKEN)) {
		f->bad_auth = true;
	}
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (f->hold) {
		f->held = req;
	} else if (str_eq(path, CJ_PATH) && str_eq(f->method, "PATCH")) {
		apply_merge_patch(f, req);
	} else if (str_eq(path, "/apis/batch/v1/namespaces/locked/cronjobs/hello")) {
		reply(req, 403, "Forbidden", status_403);
	} else if (str_eq(path, "/apis/batch/v1/namespaces/test-ns/cronjobs/flaky")) {
		reply(req, 503, "Service Unavailable", status_503);
	} else {
		reply(req, 404, "Not Found", status_404);
	}
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = support_base_new(&f->tick);
	f->server = support_server_new(f->base, on_server_request, f, &f->port);
	evhttp_set_allowed_methods(f->server, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PATCH);
	f->kubeconfig = support_kubeconfig_new(f->port, TOKEN);
	f->cfg.configured = true;
	f->cfg.kubeconfig = f->kubeconfig;
	f->http = http_create(f->base);
	f->k = k8s_create(f->base, f->http, &f->cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	k8s_destroy(f->k);
	http_destroy(f->http);
	support_run_for(f->base, 50);
	evhttp_free(f->server);
	support_base_free(f->base, f->tick);
	unlink(f->kubeconfig);
	free(f->kubeconfig);
	free(f);
	return 0;
}

static void on_suspend(void *ud, const struct k8s_cronjob *after, const struct err *err)
{
	struct fixture *f = ud;
	f->calls++;
	f->got_cronjob = after != NULL;
	if (after) {
		snprintf(f->got_name, sizeof(f->got_name), "%s", after->name);
		f->got_suspend = after->suspend;
		err_clear(&f->got_err);
	} else {
		assert_non_null(err);
		f->got_err = *err;
	}
}

static void suspend_and_wait(struct fixture *f, const char *ns, const char *name, bool suspend)
{
	f->calls = 0;
	k8s_batch_set_suspend(f->k, ns, name, suspend, on_suspend, f);
	SUPPORT_WAIT_FOR(f->base, f->calls == 1, 5000);
}

static void test_suspend_then_resume(void **state)
{
	struct fixture *f = *state;
	suspend_and_wait(f, "test-ns", "hello", true);
	assert_string_equal(f->method, "PATCH");
	assert_string_equal(f->uri, CJ_PATH "?fieldManager=labdeck");
	if (!str_eq(f->content_type, "application/merge-patch+json")) {
		fail_msg("Content-Type '%s', not application/merge-patch+json (the apiserver "
		         "answers "
		         "415 to a PATCH as application/json: k8s_request_opts.content_type)",
		         f->content_type);
	}
	assert_string_equal(f->body, "{\"spec\":{\"suspend\":true}}");
	assert_false(f->bad_auth);
	assert_true(f->got_cronjob);
	assert_string_equal(f->got_name, "hello");
	assert_true(f->got_suspend); /* the value the server now holds */
	assert_true(f->stored_suspend);

	suspend_and_wait(f, "test-ns", "hello", false);
	assert_string_equal(f->method, "PATCH");
	assert_string_equal(f->body, "{\"spec\":{\"suspend\":false}}");
	assert_true(f->got_cronjob);
	assert_false(f->got_suspend);
	assert_false(f->stored_suspend);
	assert_int_equal(f->requests, 2);
	support_run_for(f->base, 50);
	assert_int_equal(f->calls, 1); /* once */
}

static void test_suspend_not_found(void **state)
{
	struct fixture *f = *state;
	suspend_and_wait(f, "test-ns", "gone", true);
	assert_false(f->got_cronjob);
	assert_int_equal(f->got_err.code, ERR_NOT_FOUND);
	assert_int_equal(f->got_err.http_status, 404);
	assert_string_equal(
	        f->got_err.msg,
	        "kubernetes: cronjob test-ns/gone is gone (404 cronjobs.batch \"gone\" not "
	        "found): deleted since the list was read? refresh the list");
}

static void test_suspend_forbidden(void **state)
{
	struct fixture *f = *state;
	suspend_and_wait(f, "locked", "hello", false);
	assert_false(f->got_cronjob);
	assert_int_equal(f->got_err.code, ERR_AUTH);
	assert_int_equal(f->got_err.http_status, 403);
	/* what was refused, the server's words, and what is missing */
	assert_non_null(strstr(f->got_err.msg, "kubernetes: not allowed to resume cronjob "
	                                       "locked/hello (403 cronjobs.batch \"hello\" is "
	                                       "forbidden: User \"viewer\" cannot patch"));
	assert_non_null(strstr(f->got_err.msg, "the user of context 'test' needs the RBAC verb "
	                                       "\"patch\" on cronjobs (API group batch) in "
	                                       "namespace locked"));
}

static void test_suspend_never_retried(void **state)
{
	struct fixture *f = *state;
	suspend_and_wait(f, "test-ns", "flaky", true);
	assert_int_equal(f->got_err.code, ERR_SERVER);
	assert_non_null(strstr(f->got_err.msg, "503"));
	assert_non_null(strstr(f->got_err.msg, "patch cronjob test-ns/flaky"));
	support_run_for(f->base, 300);
	assert_int_equal(f->requests, 1); /* a change is not sent twice */
}

static void test_suspend_answer_malformed(void **state)
{
	struct fixture *f = *state;
	/* a 2xx that is no CronJob (a proxy's Status, say) is not taken for one */
	f->hold = true;
	k8s_batch_set_suspend(f->k, "test-ns", "hello", true, on_suspend, f);
	SUPPORT_WAIT_FOR(f->base, f->held != NULL, 5000);
	reply(f->held, 200, "OK", "{\"kind\":\"Status\",\"status\":\"Success\"}");
	f->held = NULL;
	SUPPORT_WAIT_FOR(f->base, f->calls == 1, 5000);
	assert_false(f->got_cronjob);
	assert_int_equal(f->got_err.code, ERR_MALFORMED);
	assert_non_null(strstr(f->got_err.msg, "CronJob"));
}

static void test_suspend_cancel(void **state)
{
	struct fixture *f = *state;
	/* before anything was sent */
	struct k8s_batch_op *op =
	        k8s_batch_set_suspend(f->k, "test-ns", "hello", true, on_suspend, f);
	k8s_batch_cancel(op);
	support_run_for(f->base, 200);
	assert_int_equal(f->calls, 0);
	/* while the server holds the request */
	f->hold = true;
	op = k8s_batch_set_suspend(f->k, "test-ns", "hello", true, on_suspend, f);
	SUPPORT_WAIT_FOR(f->base, f->held != NULL, 5000);
	k8s_batch_cancel(op);
	support_run_for(f->base, 200);
	assert_int_equal(f->calls, 0);
	k8s_batch_cancel(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cronjob_list),
	        cmocka_unit_test(test_cronjob_single),
	        cmocka_unit_test(test_job_states),
	        cmocka_unit_test(test_manual_name),
	        cmocka_unit_test(test_job_from_cronjob),
	        cmocka_unit_test_setup_teardown(test_suspend_then_resume, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_suspend_not_found, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_suspend_forbidden, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_suspend_never_retried, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_suspend_answer_malformed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_suspend_cancel, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
