/* test_k8s_detail.c: a pod in detail (its containers, conditions and events) and its log. The
 * parsers run on fixtures (a real minikube pod, a crash-looping lab pod, an event list with both
 * the old and the events.k8s.io shapes); fetching and log streaming run against an evhttp server
 * on 127.0.0.1, reached through a kubeconfig in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/http.h>
#include <math.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "k8s.h"
#include "k8s_detail.h"
#include "k8s_logs.h"
#include "support.h"
#include "util.h"

#define TOKEN "labdeck-test-token-0000"
#define GRAFANA "grafana-6b9f8c7d5-zp4lm"
#define GRAFANA_UID "1b2c3d4e-1111-4a5b-8c9d-000000000003"

static double at(const char *rfc3339)
{
	double t;
	assert_true(rfc3339_parse(rfc3339, &t));
	return t;
}

static void assert_contains(const char *s, const char *part)
{
	if (!s || !strstr(s, part)) {
		fail_msg("'%s' does not contain '%s'", s ? s : "(null)", part);
	}
}

static void detail_ok(const char *rel, struct pod_detail *d)
{
	size_t len;
	char *body = support_fixture("k8s", rel, &len);
	memset(d, 0, sizeof(*d));
	struct err e;
	if (!k8s_parse_pod_detail(body, len, d, &e)) {
		fail_msg("%s: %s", rel, e.msg);
	}
	free(body);
}

/* ======== parsers ======== */

static void test_pod_detail_minikube(void **state)
{
	(void)state;
	struct pod_detail d;
	detail_ok("pod.json", &d);
	assert_string_equal(d.row.namespace_, "default");
	assert_string_equal(d.row.name, "nginx");
	assert_string_equal(d.row.phase, "Running");
	assert_string_equal(d.row.ready, "1/1");
	assert_int_equal(d.row.restarts, 0);
	assert_string_equal(d.row.node, "minikube");
	assert_string_equal(d.row.ip, "172.17.0.6");
	assert_string_equal(d.uid, "614908ed-415b-4506-8370-e3e36fa8cc13");
	assert_string_equal(d.phase, "Running");
	assert_null(d.reason);
	assert_string_equal(d.host_ip, "192.168.64.104");
	assert_string_equal(d.qos, "BestEffort");
	assert_true(d.start_time == at("2019-08-09T05:12:19Z"));

	assert_int_equal(d.n_conditions, 4);
	assert_string_equal(d.conditions[1].type, "Ready");
	assert_string_equal(d.conditions[1].status, "True");
	assert_null(d.conditions[1].reason);
	assert_true(d.conditions[1].last_transition == at("2019-08-09T05:12:21Z"));

	assert_int_equal(d.n_containers, 1);
	struct pod_container *c = &d.containers[0];
	assert_string_equal(c->name, "nginx");
	assert_string_equal(c->image, "nginx:alpine");
	assert_false(c->init);
	assert_true(c->ready);
	assert_int_equal(c->restart_count, 0);
	assert_int_equal(c->state.kind, POD_STATE_RUNNING);
	assert_string_equal(c->state.text, "running since 2019-08-09T05:12:20Z");
	/* "lastState": {} is no state at all. */
	assert_int_equal(c->last_state.kind, POD_STATE_NONE);
	assert_null(c->last_state.text);
	assert_int_equal(d.n_events, 0);
	pod_detail_finish(&d);
}

static void test_pod_detail_crashloop(void **state)
{
	(void)state;
	struct pod_detail d;
	detail_ok("pod_crashloop_lab.json", &d);
	assert_string_equal(d.row.phase, "CrashLoopBackOff");
	assert_string_equal(d.row.ready, "1/2");
	assert_int_equal(d.row.restarts, 28);
	assert_string_equal(d.qos, "Burstable");
	assert_string_equal(d.phase, "Running");

	/* The Ready condition says why. */
	assert_int_equal(d.n_conditions, 5);
	struct pod_condition *ready = &d.conditions[2];
	assert_string_equal(ready->type, "Ready");
	assert_string_equal(ready->status, "False");
	assert_string_equal(ready->reason, "ContainersNotReady");
	assert_string_equal(ready->message, "containers with unready status: [grafana]");

	/* The init container first, then the others in the spec's order. */
	assert_int_equal(d.n_containers, 3);
	struct pod_container *init = &d.containers[0];
	assert_string_equal(init->name, "init-chown-data");
	assert_true(init->init);
	assert_int_equal(init->state.kind, POD_STATE_TERMINATED);
	assert_string_equal(init->state.text, "terminated: Completed (exit 0)");
	assert_int_equal(init->state.exit_code, 0);

	struct pod_container *g = &d.containers[1];
	assert_string_equal(g->name, "grafana");
	assert_false(g->init);
	assert_false(g->ready);
	assert_string_equal(g->image, "docker.io/grafana/grafana:10.4.2");
	assert_int_equal(g->restart_count, 28);
	assert_int_equal(g->state.kind, POD_STATE_WAITING);
	assert_string_equal(g->state.text, "waiting: CrashLoopBackOff");
	assert_contains(g->state.message, "back-off 5m0s restarting failed container=grafana");
	assert_int_equal(g->last_state.kind, POD_STATE_TERMINATED);
	assert_string_equal(g->last_state.text, "terminated: Error (exit 1)");
	assert_int_equal(g->last_state.exit_code, 1);
	assert_true(g->last_state.finished == at("2024-05-01T09:57:46Z"));

	struct pod_container *sc = &d.containers[2];
	assert_string_equal(sc->name, "grafana-sc-dashboard");
	assert_true(sc->ready);
	assert_string_equal(sc->state.text, "running since 2024-04-29T07:45:09Z");
	pod_detail_finish(&d);
}

static void test_pod_detail_states(void **state)
{
	(void)state;
	const char body[] =
	        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"oom\",\"namespace\":\"ai\"},"
	        "\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"},"
	        "{\"name\":\"no-status\",\"image\":\"x:1\"}]},"
	        "\"status\":{\"phase\":\"Running\",\"containerStatuses\":["
	        "{\"name\":\"c\",\"restartCount\":\"many\",\"state\":{\"running\":{}}},"
	        "{\"name\":\"a\",\"image\":\"ollama/ollama:0.1.32\",\"restartCount\":2,\"state\":"
	        "{\"terminated\":{\"exitCode\":137,\"signal\":9,\"reason\":\"OOMKilled\"}}},"
	        "{\"name\":\"b\",\"restartCount\":0,\"state\":{\"waiting\":{}}}]}}";
	struct pod_detail d = {0};
	struct err e;
	assert_true(k8s_parse_pod_detail(body, sizeof(body) - 1, &d, &e));
	assert_int_equal(d.n_containers, 4);
	assert_string_equal(d.containers[0].name, "a");
	/* No image in the spec: the status's. */
	assert_string_equal(d.containers[0].image, "ollama/ollama:0.1.32");
	assert_string_equal(d.containers[0].state.text,
	                    "terminated: OOMKilled (exit 137, signal 9)");
	assert_string_equal(d.containers[1].state.text, "waiting");
	assert_string_equal(d.containers[2].state.text, "running");
	assert_int_equal(d.containers[2].restart_count, -1);
	assert_string_equal(d.containers[3].image, "x:1");
	assert_int_equal(d.containers[3].state.kind, POD_STATE_NONE);
	assert_int_equal(d.containers[3].restart_count, -1);
	assert_null(d.qos);
	assert_true(isnan(d.start_time));
	pod_detail_finish(&d);
}

static void test_pod_detail_refused(void **state)
{
	(void)state;
	struct pod_detail d = {0};
	struct err e;
	size_t len;
	char *body = support_fixture("k8s", "status_404.json", &len);
	assert_false(k8s_parse_pod_detail(body, len, &d, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_contains(e.msg, "Status");
	free(body);
	const char *const bad[] = {"", "nope", "[1]", "{\"kind\":\"Node\",\"metadata\":{}}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&d, 0, sizeof(d));
		assert_false(k8s_parse_pod_detail(bad[i], strlen(bad[i]), &d, &e));
		assert_int_equal(e.code, ERR_MALFORMED);
		pod_detail_finish(&d);
	}
}

static void test_events(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture("k8s", "events_pod_lab.json", &len);
	struct pod_event *ev = NULL;
	size_t n = 0;
	struct err e;
	assert_true(k8s_parse_events(body, len, &ev, &n, &e));
	free(body);
	assert_int_equal(n, 6);
	/* Oldest first, whatever the server's order. */
	const char *const order[] = {"Killing",   "Scheduled", "Started",
	                             "Unhealthy", "Pulled",    "BackOff"};
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(ev[i].reason, order[i]);
		if (i > 0) {
			assert_true(ev[i - 1].last_timestamp <= ev[i].last_timestamp);
		}
	}
	/* Recorded through events.k8s.io: no lastTimestamp or count, the time in eventTime. */
	assert_string_equal(ev[1].type, "Normal");
	assert_int_equal(ev[1].count, 1);
	assert_true(fabs(ev[1].last_timestamp - at("2024-04-29T07:45:03.412566Z")) < 1e-3);
	assert_true(ev[1].first_timestamp == ev[1].last_timestamp);
	assert_string_equal(ev[1].source, "default-scheduler, default-scheduler-pve-cp1");
	assert_string_equal(ev[1].message,
	                    "Successfully assigned monitoring/" GRAFANA " to gpu-worker");
	/* A series: its count and its last observation. */
	assert_string_equal(ev[3].type, "Warning");
	assert_int_equal(ev[3].count, 5);
	assert_true(fabs(ev[3].last_timestamp - at("2024-05-01T09:57:30.502113Z")) < 1e-3);
	assert_string_equal(ev[3].source, "kubelet, gpu-worker");
	/* The old shape. */
	assert_string_equal(ev[5].type, "Warning");
	assert_int_equal(ev[5].count, 611);
	assert_true(ev[5].first_timestamp == at("2024-04-29T08:02:11Z"));
	assert_true(ev[5].last_timestamp == at("2024-05-01T09:58:40Z"));
	assert_string_equal(ev[5].involved_uid, GRAFANA_UID);
	assert_string_equal(ev[0].involved_uid, "1b2c3d4e-1111-4a5b-8c9d-0000000000ff");
	assert_int_equal(ev[4].count, 28);
	pod_events_free(ev, n);

	const char empty[] = "{\"kind\":\"EventList\",\"apiVersion\":\"v1\",\"metadata\":{},"
	                     "\"items\":[]}";
	assert_true(k8s_parse_events(empty, strlen(empty), &ev, &n, &e));
	assert_int_equal(n, 0);
	assert_null(ev);
	const char null_items[] = "{\"kind\":\"EventList\",\"items\":null}";
	assert_true(k8s_parse_events(null_items, strlen(null_items), &ev, &n, &e));
	assert_int_equal(n, 0);

	body = support_fixture("k8s", "status_403.json", &len);
	assert_false(k8s_parse_events(body, len, &ev, &n, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	free(body);
	const char no_items[] = "{\"kind\":\"EventList\"}";
	assert_false(k8s_parse_events(no_items, strlen(no_items), &ev, &n, &e));
	assert_false(k8s_parse_events("{", 1, &ev, &n, &e));
}

/* ======== against a played apiserver ======== */

enum events_mode { EVENTS_OK, EVENTS_403 };

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	int port;
	char *kubeconfig; /* a temporary file */
	struct config_kubernetes cfg;
	struct http *http;
	struct k8s *k;

	enum events_mode events_mode;
	char last_events_uri[512];
	char last_log_uri[512];
	bool bad_auth;
	struct evhttp_request *log_stream; /* a followed log, held open */

	/* the client's side */
	struct pod_detail *detail;
	int detail_calls;
	struct buf lines; /* every log line received, each followed by '|' */
	int n_lines;
	int done_calls;
	bool done_ok;
	struct err done_err;
	struct k8s_logs *logs;
	int cancel_at_line; /* line_cb cancels on this line (1-based); 0 never */
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  const char *body)
{
	support_reply(req, code, reason, type, body, strlen(body));
}

static void reply_fixture(struct evhttp_request *req, int code, const char *reason, const char *rel)
{
	char *body = support_fixture("k8s", rel, NULL);
	reply(req, code, reason, "application/json", body);
	free(body);
}

static void send_chunk(struct fixture *f, const char *text)
{
	assert_non_null(f->log_stream);
	support_send_chunk(f->log_stream, text, strlen(text));
}

static void end_stream(struct fixture *f)
{
	if (f->log_stream) {
		evhttp_send_reply_end(f->log_stream);
		f->log_stream = NULL;
	}
}

static const char status_400[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"a container name must be specified for pod web-1, choose one of: [app "
        "sidecar]\",\"reason\":\"BadRequest\",\"code\":400}";

static void on_server_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	const char *auth =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (!str_eq(auth, "Bearer " TOKEN)) {
		f->bad_auth = true;
	}
	if (strcmp(uri, "/api/v1/namespaces/monitoring/pods/" GRAFANA) == 0) {
		reply_fixture(req, 200, "OK", "pod_crashloop_lab.json");
	} else if (str_has_prefix(uri, "/api/v1/namespaces/monitoring/events?")) {
		snprintf(f->last_events_uri, sizeof(f->last_events_uri), "%s", uri);
		if (f->events_mode == EVENTS_403) {
			reply_fixture(req, 403, "Forbidden", "status_403.json");
		} else {
			reply_fixture(req, 200, "OK", "events_pod_lab.json");
		}
	} else if (str_has_prefix(uri, "/api/v1/namespaces/web/pods/web-1/log")) {
		snprintf(f->last_log_uri, sizeof(f->last_log_uri), "%s", uri);
		if (strstr(uri, "container=")) {
			reply(req, 200, "OK", "text/plain", "app line 1\napp line 2\n");
		} else {
			reply(req, 400, "Bad Request", "application/json", status_400);
		}
	} else if (str_has_prefix(uri, "/api/v1/namespaces/web/pods/nginx/log")) {
		snprintf(f->last_log_uri, sizeof(f->last_log_uri), "%s", uri);
		if (strstr(uri, "follow=true")) {
			end_stream(f);
			evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			                  "text/plain");
			evhttp_send_reply_start(req, 200, "OK");
			f->log_stream = req;
		} else {
			/* The whole log; the last line has no newline. */
			reply(req, 200, "OK", "text/plain",
			      "2024-05-01T09:57:04.1Z start\n\n2024-05-01T09:57:05.2Z 준비 완료");
		}
	} else {
		reply_fixture(req, 404, "Not Found", "status_404.json");
	}
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = support_base_new(&f->tick);
	f->server = support_server_new(f->base, on_server_request, f, &f->port);
	f->kubeconfig = support_kubeconfig_new(f->port, TOKEN);
	f->cfg.configured = true;
	f->cfg.kubeconfig = f->kubeconfig;
	f->http = http_create(f->base);
	f->k = k8s_create(f->base, f->http, &f->cfg);
	buf_init(&f->lines);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pod_detail_free(f->detail);
	k8s_destroy(f->k);
	http_destroy(f->http);
	support_run_for(f->base, 50);
	end_stream(f);
	evhttp_free(f->server);
	support_base_free(f->base, f->tick);
	unlink(f->kubeconfig);
	free(f->kubeconfig);
	buf_finish(&f->lines);
	free(f);
	return 0;
}

static void on_detail(void *ud, struct pod_detail *d)
{
	struct fixture *f = ud;
	f->detail_calls++;
	pod_detail_free(f->detail);
	f->detail = d;
}

static void test_fetch_detail(void **state)
{
	struct fixture *f = *state;
	k8s_fetch_pod_detail(f->k, "monitoring", GRAFANA, on_detail, f);
	SUPPORT_WAIT_FOR(f->base, f->detail_calls == 1, 5000);
	struct pod_detail *d = f->detail;
	assert_false(d->failed);
	assert_false(d->events_failed);
	assert_false(f->bad_auth);
	assert_string_equal(
	        f->last_events_uri,
	        "/api/v1/namespaces/monitoring/events?fieldSelector=involvedObject.name%"
	        "3D" GRAFANA "%2CinvolvedObject.kind%3DPod");
	assert_string_equal(d->row.name, GRAFANA);
	assert_int_equal(d->n_containers, 3);
	/* The event of the earlier pod of the same name (another uid) is left out. */
	assert_int_equal(d->n_events, 5);
	assert_string_equal(d->events[0].reason, "Scheduled");
	assert_string_equal(d->events[4].reason, "BackOff");
	for (size_t i = 0; i < d->n_events; i++) {
		assert_string_equal(d->events[i].involved_uid, GRAFANA_UID);
	}
	support_run_for(f->base, 100);
	assert_int_equal(f->detail_calls, 1);
}

static void test_fetch_detail_events_forbidden(void **state)
{
	struct fixture *f = *state;
	f->events_mode = EVENTS_403;
	k8s_fetch_pod_detail(f->k, "monitoring", GRAFANA, on_detail, f);
	SUPPORT_WAIT_FOR(f->base, f->detail_calls == 1, 5000);
	/* The pod is shown; why its events are not is said. */
	assert_false(f->detail->failed);
	assert_int_equal(f->detail->n_containers, 3);
	assert_true(f->detail->events_failed);
	assert_int_equal(f->detail->events_err.code, ERR_AUTH);
	assert_int_equal(f->detail->events_err.http_status, 403);
	assert_contains(f->detail->events_err.msg, "kubernetes: 403 pods is forbidden: User "
	                                           "\"test-username\" cannot list");
	assert_int_equal(f->detail->n_events, 0);
}

static void test_fetch_detail_not_found(void **state)
{
	struct fixture *f = *state;
	k8s_fetch_pod_detail(f->k, "monitoring", "gone-pod", on_detail, f);
	SUPPORT_WAIT_FOR(f->base, f->detail_calls == 1, 5000);
	assert_true(f->detail->failed);
	assert_int_equal(f->detail->err.code, ERR_NOT_FOUND);
	assert_int_equal(f->detail->err.http_status, 404);
	/* The Status message, verbatim. */
	assert_string_equal(f->detail->err.msg, "kubernetes: 404 pods \"abc\" not found: not there "
	                                        "(gone, or a wrong url or name?) (get pod)");
	assert_null(f->detail->row.name);
}

static void test_fetch_detail_cancel(void **state)
{
	struct fixture *f = *state;
	struct k8s_detail *h = k8s_fetch_pod_detail(f->k, "monitoring", GRAFANA, on_detail, f);
	k8s_detail_cancel(h);
	support_run_for(f->base, 200);
	assert_int_equal(f->detail_calls, 0);
	assert_int_equal(http_pending(f->http), 0);
	k8s_detail_cancel(NULL);
}

/* --- logs --- */

static void on_line(void *ud, const char *line, size_t len)
{
	struct fixture *f = ud;
	f->n_lines++;
	buf_append(&f->lines, line, len);
	buf_append(&f->lines, "|", 1);
	if (f->n_lines == f->cancel_at_line) {
		k8s_logs_cancel(f->logs);
		f->logs = NULL;
	}
}

static void on_log_done(void *ud, const struct err *err)
{
	struct fixture *f = ud;
	f->done_calls++;
	f->done_ok = err == NULL;
	if (err) {
		f->done_err = *err;
	}
	f->logs = NULL;
}

static void test_logs_follow_and_cancel(void **state)
{
	struct fixture *f = *state;
	f->logs = k8s_follow_logs(f->k, "web", "nginx", NULL, 100, true, on_line, on_log_done, f);
	SUPPORT_WAIT_FOR(f->base, f->log_stream != NULL, 5000);
	assert_string_equal(f->last_log_uri,
	                    "/api/v1/namespaces/web/pods/nginx/log?follow=true&tailLines=100");
	/* Lines cut anywhere, a Hangul character cut in two. */
	send_chunk(f, "GET / 200\nGET /health");
	SUPPORT_WAIT_FOR(f->base, f->n_lines == 1, 3000);
	send_chunk(f, "z 200\r\n요청 \xEC\x99");
	send_chunk(f, "\x84\xEB\xA3\x8C\n");
	SUPPORT_WAIT_FOR(f->base, f->n_lines == 3, 3000);
	assert_string_equal(f->lines.data, "GET / 200|GET /healthz 200|요청 완료|");
	/* The stream stalls: cancelling stops it at once, with no callback. */
	support_run_for(f->base, 100);
	assert_int_equal(http_pending(f->http), 1);
	k8s_logs_cancel(f->logs);
	f->logs = NULL;
	assert_int_equal(http_pending(f->http), 0);
	support_run_for(f->base, 100);
	assert_int_equal(f->done_calls, 0);
	assert_int_equal(f->n_lines, 3);
}

static void test_logs_read_once(void **state)
{
	struct fixture *f = *state;
	f->logs = k8s_follow_logs(f->k, "web", "nginx", NULL, -1, false, on_line, on_log_done, f);
	SUPPORT_WAIT_FOR(f->base, f->done_calls == 1, 5000);
	assert_true(f->done_ok);
	assert_string_equal(f->last_log_uri, "/api/v1/namespaces/web/pods/nginx/log");
	/* The empty line is kept; the last line has no newline and still comes. */
	assert_int_equal(f->n_lines, 3);
	assert_string_equal(f->lines.data,
	                    "2024-05-01T09:57:04.1Z start||2024-05-01T09:57:05.2Z 준비 완료|");
	assert_false(f->bad_auth);
}

static void test_logs_followed_stream_ends(void **state)
{
	struct fixture *f = *state;
	f->logs = k8s_follow_logs(f->k, "web", "nginx", NULL, 10, true, on_line, on_log_done, f);
	SUPPORT_WAIT_FOR(f->base, f->log_stream != NULL, 5000);
	send_chunk(f, "one\ntwo");
	end_stream(f); /* the container stopped */
	SUPPORT_WAIT_FOR(f->base, f->done_calls == 1, 3000);
	assert_true(f->done_ok);
	assert_string_equal(f->lines.data, "one|two|");
}

/* A pod with two containers and none named: the server's 400 Status is the message. */
static void test_logs_container_required(void **state)
{
	struct fixture *f = *state;
	f->logs = k8s_follow_logs(f->k, "web", "web-1", NULL, 100, true, on_line, on_log_done, f);
	SUPPORT_WAIT_FOR(f->base, f->done_calls == 1, 5000);
	assert_false(f->done_ok);
	assert_int_equal(f->done_err.code, ERR_REJECTED);
	assert_int_equal(f->done_err.http_status, 400);
	assert_contains(f->done_err.msg, "kubernetes: 400 a container name must be specified for "
	                                 "pod web-1, choose one of: [app sidecar]");
	assert_int_equal(f->n_lines, 0);

	/* Named, it works. */
	f->done_calls = 0;
	f->logs = k8s_follow_logs(f->k, "web", "web-1", "app", 5, false, on_line, on_log_done, f);
	SUPPORT_WAIT_FOR(f->base, f->done_calls == 1, 5000);
	assert_true(f->done_ok);
	assert_string_equal(f->last_log_uri,
	                    "/api/v1/namespaces/web/pods/web-1/log?tailLines=5&container=app");
	assert_string_equal(f->lines.data, "app line 1|app line 2|");
}

static void test_logs_not_found(void **state)
{
	struct fixture *f = *state;
	f->logs = k8s_follow_logs(f->k, "web", "nope", NULL, 100, true, on_line, on_log_done, f);
	SUPPORT_WAIT_FOR(f->base, f->done_calls == 1, 5000);
	assert_int_equal(f->done_err.code, ERR_NOT_FOUND);
	assert_contains(f->done_err.msg, "(pod logs)");
}

/* Cancelled from inside its own line callback: no more lines, no done, nothing left behind. */
static void test_logs_cancel_from_line(void **state)
{
	struct fixture *f = *state;
	f->cancel_at_line = 2;
	f->logs = k8s_follow_logs(f->k, "web", "nginx", NULL, 100, true, on_line, on_log_done, f);
	SUPPORT_WAIT_FOR(f->base, f->log_stream != NULL, 5000);
	send_chunk(f, "a\nb\nc\nd\n");
	SUPPORT_WAIT_FOR(f->base, f->n_lines >= 2 && http_pending(f->http) == 0, 3000);
	support_run_for(f->base, 100);
	assert_int_equal(f->n_lines, 2);
	assert_string_equal(f->lines.data, "a|b|");
	assert_int_equal(f->done_calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pod_detail_minikube),
	        cmocka_unit_test(test_pod_detail_crashloop),
	        cmocka_unit_test(test_pod_detail_states),
	        cmocka_unit_test(test_pod_detail_refused),
	        cmocka_unit_test(test_events),
	        cmocka_unit_test_setup_teardown(test_fetch_detail, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fetch_detail_events_forbidden, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_fetch_detail_not_found, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_fetch_detail_cancel, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_logs_follow_and_cancel, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_logs_read_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_logs_followed_stream_ends, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_logs_container_required, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_logs_not_found, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_logs_cancel_from_line, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
