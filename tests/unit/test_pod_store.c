/* test_pod_store.c: the live pod set. First the pure parts (health texts and backoff, the watch
 * event parser on real and lab streams, the list's resourceVersion), then the store itself
 * against an apiserver played by an evhttp server on 127.0.0.1, on the same libevent loop: it
 * serves a paginated Table list and holds watch streams open, sending the events the test picks,
 * so each step of LIST → WATCH → 410 → re-LIST can be checked as it happens. The client reaches
 * it through a kubeconfig written to a temporary directory, so every request goes through the
 * ordinary credential preparation (the bearer token is checked on the server). */
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
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <unistd.h>

#include "config.h"
#include "health.h"
#include "http.h"
#include "k8s.h"
#include "k8s_parse.h"
#include "pod_store.h"
#include "support.h"
#include "util.h"

#define TOKEN "labdeck-test-token-0000"
#define N_LAB_LINES 5

/* fixture_lines splits an .ndjson fixture into its lines (without '\n'); returns how many. */
static size_t fixture_lines(const char *rel, char **lines, size_t max)
{
	char *text = support_fixture("k8s", rel, NULL);
	size_t n = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) {
		lines[n++] = xstrdup(l);
	}
	free(text);
	return n;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(lines[i]);
	}
}

static void assert_contains(const char *s, const char *part)
{
	if (!s || !strstr(s, part)) {
		fail_msg("'%s' does not contain '%s'", s ? s : "(null)", part);
	}
}

/* ======== health ======== */

static void test_health_texts(void **state)
{
	(void)state;
	char out[256];
	struct health h;
	health_init(&h);
	health_describe(&h, 1000, 2, out, sizeof(out));
	assert_string_equal(out, "connecting…");

	health_ok(&h, 1000);
	health_describe(&h, 1005, 2, out, sizeof(out));
	assert_string_equal(out, "ok");
	health_describe(&h, 1007, 2, out, sizeof(out)); /* more than 3 × 2 s */
	assert_string_equal(out, "stale 7s");
	health_describe(&h, 1150, 2, out, sizeof(out));
	assert_string_equal(out, "stale 2m");
	health_describe(&h, 99999, 0, out, sizeof(out)); /* no refresh period: never stale */
	assert_string_equal(out, "ok");

	struct health never;
	health_init(&never);
	struct err e;
	err_set(&e, ERR_AUTH, 401, "kubernetes: 401 Unauthorized");
	health_fail(&never, &e);
	health_describe(&never, 1000, 2, out, sizeof(out));
	assert_string_equal(out, "failing: 401 Unauthorized");
	health_fail(&never, &e);
	health_fail(&never, &e);
	health_describe(&never, 1000, 2, out, sizeof(out));
	assert_string_equal(out, "failing: 401 Unauthorized (3 tries)");

	/* Failing while the data of two minutes ago is still shown. */
	err_set(&e, ERR_SERVER, 503, "kubernetes: 503 Service Unavailable (watch pods)");
	health_fail(&h, &e);
	health_fail(&h, &e);
	health_describe(&h, 1120, 2, out, sizeof(out));
	assert_string_equal(
	        out, "failing: 503 Service Unavailable (watch pods) (2 tries) — data 2m old");
	assert_int_equal(h.state, HEALTH_FAILING);
	assert_int_equal(h.last_err.http_status, 503);

	/* A narrow status line: the reason is shortened, the tries and the age stay. */
	char small[48];
	health_describe(&h, 1120, 2, small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
	assert_true(str_has_prefix(small, "failing: 503 Serv"));
	assert_contains(small, "… (2 tries) — data 2m old");

	/* Recovery clears the count but keeps the last error for details. */
	health_ok(&h, 1200);
	assert_int_equal(h.state, HEALTH_OK);
	assert_int_equal(h.failures, 0);
	assert_int_equal(h.last_err.http_status, 503);

	h.state = HEALTH_UNCONFIGURED;
	health_describe(&h, 1200, 2, out, sizeof(out));
	assert_string_equal(out, "not configured");
}

static void test_health_backoff(void **state)
{
	(void)state;
	struct health h;
	health_init(&h);
	assert_int_equal(health_backoff_ms(&h), 0);
	struct err e;
	err_set(&e, ERR_NETWORK, 0, "kubernetes: cannot connect");
	const long expect[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		health_fail(&h, &e);
		long lo = expect[i] * 8 / 10, hi = expect[i] * 12 / 10;
		if (hi > 30000) {
			hi = 30000;
		}
		long min = 1L << 40, max = 0;
		for (int k = 0; k < 300; k++) {
			long d = health_backoff_ms(&h);
			if (d < lo || d > hi) {
				fail_msg("after %d failures: %ld ms, want %ld..%ld", h.failures, d,
				         lo, hi);
			}
			min = d < min ? d : min;
			max = d > max ? d : max;
		}
		assert_true(max > min); /* jittered */
	}
	for (int i = 0; i < 100; i++) {
		health_fail(&h, &e); /* no overflow after many failures */
	}
	assert_true(health_backoff_ms(&h) <= 30000);
	assert_true(health_backoff_ms(&h) >= 24000);
}

/* ======== the watch event parser ======== */

static void parse_ok(const char *line, struct k8s_watch_event *ev)
{
	struct err e;
	if (!k8s_parse_watch_event(line, strlen(line), ev, &e)) {
		fail_msg("%.80s: %s", line, e.msg);
	}
}

static void test_watch_events_real(void **state)
{
	(void)state;
	char *lines[8];
	size_t n = fixture_lines("watch_pods.ndjson", lines, 8);
	assert_int_equal(n, 5);
	struct k8s_watch_event ev;

	parse_ok(lines[0], &ev);
	assert_int_equal(ev.type, K8S_WATCH_ADDED);
	assert_string_equal(ev.resource_version, "1482816");
	assert_string_equal(ev.pod.namespace_, "default");
	assert_string_equal(ev.pod.name, "nginx");
	assert_string_equal(ev.pod.phase, "Running");
	assert_string_equal(ev.pod.ready, "1/1");
	assert_int_equal(ev.pod.restarts, 0);
	assert_string_equal(ev.pod.node, "minikube");
	assert_string_equal(ev.pod.ip, "172.17.0.6");
	assert_true(fabs(ev.pod.created - 1565327539.0) < 1e-6); /* 2019-08-09T05:12:19Z */
	k8s_watch_event_finish(&ev);

	parse_ok(lines[1], &ev);
	assert_int_equal(ev.type, K8S_WATCH_MODIFIED);
	assert_string_equal(ev.resource_version, "1482901");
	assert_int_equal(ev.pod.restarts, 1);
	k8s_watch_event_finish(&ev);

	parse_ok(lines[2], &ev);
	assert_int_equal(ev.type, K8S_WATCH_BOOKMARK);
	assert_string_equal(ev.resource_version, "1483000");
	assert_null(ev.pod.name);
	k8s_watch_event_finish(&ev);

	parse_ok(lines[3], &ev);
	assert_int_equal(ev.type, K8S_WATCH_DELETED);
	assert_string_equal(ev.pod.name, "nginx");
	assert_string_equal(ev.resource_version, "1482901");
	k8s_watch_event_finish(&ev);

	/* The older servers' form: 410 with reason Gone. */
	parse_ok(lines[4], &ev);
	assert_int_equal(ev.type, K8S_WATCH_EXPIRED);
	assert_int_equal(ev.status.code, 410);
	assert_string_equal(ev.status.reason, "Gone");
	assert_string_equal(ev.status.message, "too old resource version: 1 (8146471)");
	assert_null(ev.resource_version);
	k8s_watch_event_finish(&ev);
	free_lines(lines, n);

	size_t len;
	char *body = support_fixture("k8s", "status_410_watch_error.json", &len);
	struct err e;
	assert_true(k8s_parse_watch_event(body, len, &ev, &e));
	assert_int_equal(ev.type, K8S_WATCH_EXPIRED);
	k8s_watch_event_finish(&ev);
	free(body);
}

static void test_watch_events_lab(void **state)
{
	(void)state;
	char *lines[8];
	size_t n = fixture_lines("watch_pods_lab.ndjson", lines, 8);
	assert_int_equal(n, N_LAB_LINES);
	struct k8s_watch_event ev;

	parse_ok(lines[0], &ev);
	assert_int_equal(ev.type, K8S_WATCH_ADDED);
	assert_string_equal(ev.pod.namespace_, "web");
	assert_string_equal(ev.pod.name, "nginx-7c5ddbdf54-8xk2p");
	k8s_watch_event_finish(&ev);

	/* A crash-looping container next to a ready sidecar, after an init container. */
	parse_ok(lines[1], &ev);
	assert_int_equal(ev.type, K8S_WATCH_MODIFIED);
	assert_string_equal(ev.pod.name, "grafana-6b9f8c7d5-zp4lm");
	assert_string_equal(ev.pod.phase, "CrashLoopBackOff");
	assert_string_equal(ev.pod.ready, "1/2");
	assert_int_equal(ev.pod.restarts, 28);
	assert_string_equal(ev.resource_version, "446701");
	k8s_watch_event_finish(&ev);

	/* A finished job's pod being deleted stays Completed, not Terminating. */
	parse_ok(lines[2], &ev);
	assert_int_equal(ev.type, K8S_WATCH_DELETED);
	assert_string_equal(ev.pod.namespace_, "ops");
	assert_string_equal(ev.pod.phase, "Completed");
	assert_string_equal(ev.pod.ready, "0/1");
	k8s_watch_event_finish(&ev);

	parse_ok(lines[3], &ev);
	assert_int_equal(ev.type, K8S_WATCH_BOOKMARK);
	assert_string_equal(ev.resource_version, "446800");
	k8s_watch_event_finish(&ev);

	/* The newer servers' form: 410 with reason Expired. */
	parse_ok(lines[4], &ev);
	assert_int_equal(ev.type, K8S_WATCH_EXPIRED);
	assert_string_equal(ev.status.reason, "Expired");
	k8s_watch_event_finish(&ev);

	/* Any other Status is an error to report, not a reason to list again. */
	parse_ok("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	         "\"metadata\":{},\"status\":\"Failure\",\"message\":\"etcdserver: request timed "
	         "out\",\"reason\":\"InternalError\",\"code\":500}}",
	         &ev);
	assert_int_equal(ev.type, K8S_WATCH_ERROR);
	assert_int_equal(ev.status.code, 500);
	assert_string_equal(ev.status.message, "etcdserver: request timed out");
	k8s_watch_event_finish(&ev);
	free_lines(lines, n);
}

static void test_watch_events_garbage(void **state)
{
	(void)state;
	char *lines[8];
	size_t n = fixture_lines("watch_pods_lab.ndjson", lines, 8);
	/* A line cut in the middle (a stream that broke off). */
	char *cut = xstrndup(lines[1], strlen(lines[1]) / 2);
	const char *const bad[] = {
	        "",
	        "not json",
	        "[]",
	        "{}",
	        "\"ADDED\"",
	        "{\"type\":\"ADDED\"}",
	        "{\"type\":\"ADDED\",\"object\":[]}",
	        "{\"type\":7,\"object\":{}}",
	        "{\"type\":\"RENAMED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}",
	        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{}}}",
	        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"\"}}}",
	        "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"}"
	        "}}",
	        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{}}}",
	        cut,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct k8s_watch_event ev;
		struct err e;
		err_clear(&e);
		if (k8s_parse_watch_event(bad[i], strlen(bad[i]), &ev, &e)) {
			fail_msg("accepted '%.60s'", bad[i]);
		}
		assert_int_equal(e.code, ERR_MALFORMED);
		assert_true(e.msg[0] != '\0');
		assert_null(ev.pod.name);
		assert_null(ev.resource_version);
		k8s_watch_event_finish(&ev); /* harmless on the emptied event */
	}
	free(cut);
	free_lines(lines, n);
}

/* The list's resourceVersion, where the watch starts, comes with the page. */
static void test_list_resource_version(void **state)
{
	(void)state;
	size_t len;
	char *body = support_fixture("k8s", "podlist_table_store_page1.json", &len);
	struct pod_list l = {0};
	char *cont = NULL, *rv = NULL;
	struct err e;
	assert_true(k8s_parse_pod_page(body, len, &l, &cont, &rv, &e));
	assert_int_equal(l.len, 2);
	assert_string_equal(rv, "446677");
	assert_non_null(cont);
	assert_true(str_has_prefix(cont, "eyJ2Ijoi"));
	free(cont);
	free(rv);
	pod_list_finish(&l);
	/* The old call gives the same rows. */
	assert_true(k8s_parse_pod_table(body, len, &l, &cont, &e));
	assert_int_equal(l.len, 2);
	assert_string_equal(l.items[1].name, "ollama-0");
	free(cont);
	pod_list_finish(&l);
	free(body);

	/* A plain PodList (a server that ignores the Table request) has one too. */
	body = support_fixture("k8s", "podlist_paginated.json", &len);
	assert_true(k8s_parse_pod_page(body, len, &l, &cont, &rv, &e));
	assert_non_null(rv);
	free(cont);
	free(rv);
	pod_list_finish(&l);
	free(body);
}

/* ======== the store against a played apiserver ======== */

enum list_mode { LIST_PAGED, LIST_RELIST, LIST_503, LIST_BODY };
enum watch_mode { WATCH_STREAM, WATCH_503, WATCH_410, WATCH_429 };

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	int port;
	char *kubeconfig; /* a temporary file */
	struct config_kubernetes cfg;
	struct http *http;
	struct k8s *k;
	struct pod_store *store;
	int changed_calls;

	/* the server's side */
	enum list_mode list_mode;
	enum watch_mode watch_mode;
	char *list_body; /* LIST_BODY */
	int lists;       /* list requests without a continue token: whole lists */
	int list_pages;
	int watches;
	int64_t watch_at_ms; /* when the last watch request came */
	char last_list_uri[512];
	char last_watch_uri[512];
	char last_auth[128];
	bool bad_auth;
	struct evhttp_request *watch; /* the open watch stream, if any */
	char *lab[N_LAB_LINES];
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *body)
{
	support_reply(req, code, reason, "application/json", body, strlen(body));
}

static void reply_fixture(struct evhttp_request *req, const char *rel)
{
	char *body = support_fixture("k8s", rel, NULL);
	reply(req, 200, "OK", body);
	free(body);
}

static const char status_503[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"the server is currently unable to handle the request\","
        "\"reason\":\"ServiceUnavailable\",\"code\":503}";
static const char status_410[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
        "\"message\":\"too old resource version: 446677 (447150)\",\"reason\":\"Expired\","
        "\"code\":410}";

static void end_watch(struct fixture *f)
{
	if (f->watch) {
		/* Also frees a request whose client went away (evhttp hands those to us). */
		evhttp_send_reply_end(f->watch);
		f->watch = NULL;
	}
}

static void on_server_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	const char *auth =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	snprintf(f->last_auth, sizeof(f->last_auth), "%s", auth ? auth : "");
	if (!str_eq(auth, "Bearer " TOKEN)) {
		f->bad_auth = true;
	}
	char path[512];
	snprintf(path, sizeof(path), "%s", uri);
	path[strcspn(path, "?")] = '\0';
	size_t plen = strlen(path);
	if (plen < 5 || strcmp(path + plen - 5, "/pods") != 0) {
		reply(req, 404, "Not Found", "{}");
		return;
	}
	if (strstr(uri, "watch=1")) {
		f->watches++;
		f->watch_at_ms = now_mono_ms();
		snprintf(f->last_watch_uri, sizeof(f->last_watch_uri), "%s", uri);
		end_watch(f); /* one at a time: an older one was given up by the client */
		if (f->watch_mode == WATCH_503) {
			reply(req, 503, "Service Unavailable", status_503);
		} else if (f->watch_mode == WATCH_410) {
			reply(req, 410, "Gone", status_410);
		} else if (f->watch_mode == WATCH_429) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
			                  "3");
			reply(req, 429, "Too Many Requests", "{}");
		} else {
			struct evkeyvalq *out = evhttp_request_get_output_headers(req);
			evhttp_add_header(out, "Content-Type", "application/json");
			evhttp_send_reply_start(req, 200, "OK");
			f->watch = req;
		}
		return;
	}
	f->list_pages++;
	bool next_page = strstr(uri, "continue=") != NULL;
	if (!next_page) {
		f->lists++;
	}
	snprintf(f->last_list_uri, sizeof(f->last_list_uri), "%s", uri);
	switch (f->list_mode) {
	case LIST_503:
		reply(req, 503, "Service Unavailable", status_503);
		break;
	case LIST_BODY:
		reply(req, 200, "OK", f->list_body);
		break;
	case LIST_RELIST:
		reply_fixture(req, "podlist_table_store_relist.json");
		break;
	case LIST_PAGED:
		reply_fixture(req, next_page ? "podlist_table_store_page2.json"
		                             : "podlist_table_store_page1.json");
		break;
	}
}

/* send_line sends one line (and its '\n') on the open watch. */
static void send_line(struct fixture *f, const char *line)
{
	assert_non_null(f->watch);
	char *chunk = xasprintf("%s\n", line);
	support_send_chunk(f->watch, chunk, strlen(chunk));
	free(chunk);
}

static void on_changed(void *ud)
{
	struct fixture *f = ud;
	f->changed_calls++;
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
	size_t n = fixture_lines("watch_pods_lab.ndjson", f->lab, N_LAB_LINES);
	assert_int_equal(n, N_LAB_LINES);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pod_store_destroy(f->store);
	k8s_destroy(f->k);
	http_destroy(f->http);
	support_run_for(f->base, 50); /* let the server see the clients go */
	end_watch(f);
	evhttp_free(f->server);
	support_base_free(f->base, f->tick);
	unlink(f->kubeconfig);
	free(f->kubeconfig);
	free_lines(f->lab, N_LAB_LINES);
	free(f->list_body);
	free(f);
	return 0;
}

static size_t n_pods(struct fixture *f)
{
	size_t n;
	pod_store_pods(f->store, &n);
	return n;
}

static const struct pod_row *pod(struct fixture *f, const char *ns, const char *name)
{
	return pod_store_find(f->store, ns, name);
}

static const char *rv(struct fixture *f)
{
	const char *v = pod_store_resource_version(f->store);
	return v ? v : "";
}

static enum health_state health_state(struct fixture *f)
{
	return pod_store_health(f->store)->state;
}

/* start_store creates the store (all namespaces) and waits for the list and the open watch. */
static void start_store(struct fixture *f)
{
	f->store = pod_store_create(f->base, f->k, NULL, on_changed, f);
	assert_int_equal(health_state(f), HEALTH_CONNECTING);
	SUPPORT_WAIT_FOR(f->base, n_pods(f) == 4 && f->watch != NULL, 5000);
	assert_int_equal(health_state(f), HEALTH_OK);
}

static void test_store_list_watch_relist(void **state)
{
	struct fixture *f = *state;
	start_store(f);
	/* Both pages, merged and sorted by namespace then name. */
	assert_int_equal(f->lists, 1);
	assert_int_equal(f->list_pages, 2);
	assert_string_equal(f->last_list_uri,
	                    "/api/v1/pods?limit=500&continue=eyJ2IjoibWV0YS5rOHMuaW"
	                    "8vdjEiLCJydiI6NDQ2Njc3LCJzdGFydCI6Im1vbml0b3JpbmcvZ3Jh"
	                    "ZmFuYS02YjlmOGM3ZDUtenA0bG1cdTAwMDAifQ");
	size_t n;
	const struct pod_row *rows = pod_store_pods(f->store, &n);
	const char *const order[][2] = {{"ai", "ollama-0"},
	                                {"kube-system", "coredns-7db6d8ff4d-x2x9q"},
	                                {"monitoring", "grafana-6b9f8c7d5-zp4lm"},
	                                {"ops", "backup-28573920-abcde"}};
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(rows[i].namespace_, order[i][0]);
		assert_string_equal(rows[i].name, order[i][1]);
	}
	assert_int_equal(pod(f, "ai", "ollama-0")->restarts, 3);
	assert_string_equal(rv(f), "446677");
	/* The watch starts where the list was taken, with the cluster's credentials. */
	assert_string_equal(f->last_watch_uri, "/api/v1/pods?watch=1&allowWatchBookmarks=true&"
	                                       "resourceVersion=446677&timeoutSeconds=300");
	assert_false(f->bad_auth);
	assert_string_equal(f->last_auth, "Bearer " TOKEN);
	SUPPORT_WAIT_FOR(f->base, f->changed_calls > 0, 1000);

	/* ADDED */
	uint64_t gen = pod_store_generation(f->store);
	send_line(f, f->lab[0]);
	SUPPORT_WAIT_FOR(f->base, pod(f, "web", "nginx-7c5ddbdf54-8xk2p") != NULL, 3000);
	const struct pod_row *r = pod(f, "web", "nginx-7c5ddbdf54-8xk2p");
	assert_string_equal(r->phase, "Running");
	assert_string_equal(r->ready, "1/1");
	assert_string_equal(r->node, "gpu-worker");
	assert_string_equal(r->ip, "10.42.1.31");
	assert_int_equal(n_pods(f), 5);
	assert_string_equal(rv(f), "446700");
	assert_true(pod_store_generation(f->store) > gen);

	/* MODIFIED: the row changes in place. */
	int calls = f->changed_calls;
	send_line(f, f->lab[1]);
	SUPPORT_WAIT_FOR(f->base, str_eq(rv(f), "446701"), 3000);
	r = pod(f, "monitoring", "grafana-6b9f8c7d5-zp4lm");
	assert_string_equal(r->phase, "CrashLoopBackOff");
	assert_int_equal(r->restarts, 28); /* 27 in the list */
	assert_string_equal(r->ready, "1/2");
	assert_int_equal(n_pods(f), 5);
	assert_string_equal(rv(f), "446701");
	SUPPORT_WAIT_FOR(f->base, f->changed_calls > calls, 1000);

	/* DELETED */
	send_line(f, f->lab[2]);
	SUPPORT_WAIT_FOR(f->base, pod(f, "ops", "backup-28573920-abcde") == NULL, 3000);
	assert_int_equal(n_pods(f), 4);
	assert_string_equal(rv(f), "446702");

	/* BOOKMARK: only the resourceVersion moves. */
	gen = pod_store_generation(f->store);
	send_line(f, f->lab[3]);
	SUPPORT_WAIT_FOR(f->base, str_eq(rv(f), "446800"), 3000);
	assert_int_equal(pod_store_generation(f->store), gen);
	assert_int_equal(n_pods(f), 4);

	/* The watch times out (timeoutSeconds): it resumes at once from the bookmark, no list. */
	end_watch(f);
	SUPPORT_WAIT_FOR(f->base, f->watches == 2 && f->watch != NULL, 3000);
	assert_contains(f->last_watch_uri, "&resourceVersion=446800&");
	assert_int_equal(f->lists, 1);
	assert_int_equal(health_state(f), HEALTH_OK);

	/* 410 Expired: the only reason to list again. */
	f->list_mode = LIST_RELIST;
	send_line(f, f->lab[4]);
	end_watch(f);
	SUPPORT_WAIT_FOR(f->base, f->lists == 2 && str_eq(rv(f), "447200") && f->watch != NULL,
	                 3000);
	assert_int_equal(n_pods(f), 4);
	assert_null(pod(f, "ops", "backup-28573920-abcde"));
	assert_non_null(pod(f, "web", "nginx-7c5ddbdf54-8xk2p"));
	assert_string_equal(pod(f, "monitoring", "grafana-6b9f8c7d5-zp4lm")->phase, "Running");
	assert_int_equal(pod(f, "ai", "ollama-0")->restarts, 4);
	assert_contains(f->last_watch_uri, "&resourceVersion=447200&");
	assert_int_equal(f->watches, 3);
	assert_int_equal(health_state(f), HEALTH_OK);

	/* Nothing more happens on its own: no extra lists. */
	support_run_for(f->base, 300);
	assert_int_equal(f->lists, 2);
	assert_int_equal(f->watches, 3);
}

/* A 503 on the watch: failing, the rows kept, a retry after the backoff resuming the watch. */
static void test_store_503_keeps_data_and_retries(void **state)
{
	struct fixture *f = *state;
	start_store(f);
	send_line(f, f->lab[0]);
	SUPPORT_WAIT_FOR(f->base, n_pods(f) == 5, 3000);

	f->watch_mode = WATCH_503;
	end_watch(f);
	SUPPORT_WAIT_FOR(f->base, health_state(f) == HEALTH_FAILING, 3000);
	int64_t failed_at = f->watch_at_ms;
	assert_int_equal(f->watches, 2);
	const struct health *h = pod_store_health(f->store);
	assert_int_equal(h->failures, 1);
	assert_int_equal(h->last_err.http_status, 503);
	assert_contains(h->last_err.msg, "the server is currently unable to handle the request");
	char text[256];
	health_describe(h, now_wall(), 2, text, sizeof(text));
	assert_true(str_has_prefix(text, "failing, retry in 1s: 503 ") ||
	            str_has_prefix(text, "failing, retry in 2s: 503 "));
	assert_contains(text, " — data ");
	/* The data stays. */
	assert_int_equal(n_pods(f), 5);
	assert_non_null(pod(f, "web", "nginx-7c5ddbdf54-8xk2p"));

	/* A second try comes after about a second (1 s ± 20 %), not at once. */
	SUPPORT_WAIT_FOR(f->base, f->watches == 3, 4000);
	int64_t gap = f->watch_at_ms - failed_at;
	if (gap < 750) {
		fail_msg("retried after %lld ms, before the backoff", (long long)gap);
	}
	SUPPORT_WAIT_FOR(f->base, pod_store_health(f->store)->failures == 2, 2000);
	assert_contains(f->last_watch_uri, "&resourceVersion=446700&");

	/* The server is back: the next try resumes the watch (no list), and an event makes it ok.
	 */
	f->watch_mode = WATCH_STREAM;
	SUPPORT_WAIT_FOR(f->base, f->watch != NULL, 5000);
	assert_contains(f->last_watch_uri, "&resourceVersion=446700&");
	send_line(f, f->lab[3]);
	SUPPORT_WAIT_FOR(f->base, health_state(f) == HEALTH_OK, 3000);
	assert_int_equal(pod_store_health(f->store)->failures, 0);
	assert_int_equal(f->lists, 1);
	assert_int_equal(n_pods(f), 5);
	health_describe(pod_store_health(f->store), now_wall(), 2, text, sizeof(text));
	assert_string_equal(text, "ok");
}

/* A watch answered 429 with Retry-After: 3: the next try waits the 3 s asked (not the 1 s
 * backoff), and the status line counts down to it. */
static void test_store_429_retry_after(void **state)
{
	struct fixture *f = *state;
	start_store(f);
	send_line(f, f->lab[0]);
	SUPPORT_WAIT_FOR(f->base, n_pods(f) == 5, 3000);

	f->watch_mode = WATCH_429;
	end_watch(f);
	SUPPORT_WAIT_FOR(f->base, health_state(f) == HEALTH_FAILING, 3000);
	int64_t failed_at = f->watch_at_ms;
	char text[256];
	health_describe(pod_store_health(f->store), now_wall(), 2, text, sizeof(text));
	if (!str_has_prefix(text, "failing, retry in 3s: 429 ")) {
		fail_msg("status: %s", text);
	}
	assert_contains(text, "the server asks to retry after 3 s");
	assert_int_equal(n_pods(f), 5); /* the rows stay */

	f->watch_mode = WATCH_STREAM;
	SUPPORT_WAIT_FOR(f->base, f->watch != NULL && f->watches == 3, 6000);
	int64_t gap = f->watch_at_ms - failed_at;
	if (gap < 2900) {
		fail_msg("retried after %lld ms, before the 3 s asked", (long long)gap);
	}
	send_line(f, f->lab[3]);
	SUPPORT_WAIT_FOR(f->base, health_state(f) == HEALTH_OK, 3000);
	assert_true(pod_store_health(f->store)->retry_at == 0);
}

/* A list answered 503: failing (connecting before), retried until it works. */
static void test_store_list_503(void **state)
{
	struct fixture *f = *state;
	f->list_mode = LIST_503;
	f->store = pod_store_create(f->base, f->k, NULL, on_changed, f);
	SUPPORT_WAIT_FOR(f->base, health_state(f) == HEALTH_FAILING, 8000);
	assert_int_equal(n_pods(f), 0);
	assert_null(pod_store_resource_version(f->store));
	assert_int_equal(f->watches, 0);
	int lists = f->lists;
	f->list_mode = LIST_PAGED;
	SUPPORT_WAIT_FOR(f->base, n_pods(f) == 4 && health_state(f) == HEALTH_OK, 8000);
	assert_true(f->lists > lists);
	SUPPORT_WAIT_FOR(f->base, f->watch != NULL, 3000);
}

/* A watch refused with HTTP 410 (not an ERROR event) also lists again. */
static void test_store_watch_http_410(void **state)
{
	struct fixture *f = *state;
	start_store(f);
	f->watch_mode = WATCH_410;
	f->list_mode = LIST_RELIST;
	end_watch(f);
	SUPPORT_WAIT_FOR(f->base, f->lists == 2 && str_eq(rv(f), "447200"), 3000);
	f->watch_mode = WATCH_STREAM;
	assert_int_equal(n_pods(f), 4);
	assert_non_null(pod(f, "web", "nginx-7c5ddbdf54-8xk2p"));
}

/* A line that is not an event: an update may be lost, so it fails and lists again later. */
static void test_store_garbage_relists(void **state)
{
	struct fixture *f = *state;
	start_store(f);
	send_line(f, "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"na");
	SUPPORT_WAIT_FOR(f->base, health_state(f) == HEALTH_FAILING, 3000);
	assert_int_equal(pod_store_health(f->store)->last_err.code, ERR_MALFORMED);
	assert_contains(pod_store_health(f->store)->last_err.msg, "malformed pod watch event");
	assert_int_equal(n_pods(f), 4);
	f->list_mode = LIST_RELIST;
	SUPPORT_WAIT_FOR(f->base, f->lists == 2 && health_state(f) == HEALTH_OK, 4000);
	assert_string_equal(rv(f), "447200");
}

static void test_store_namespace_and_refresh(void **state)
{
	struct fixture *f = *state;
	start_store(f);
	assert_null(pod_store_namespace(f->store));
	char *relist = support_fixture("k8s", "podlist_table_store_relist.json", NULL);
	f->list_body = relist;
	f->list_mode = LIST_BODY;

	/* Another namespace: emptied at once, listed and watched there. */
	uint64_t gen = pod_store_generation(f->store);
	pod_store_set_namespace(f->store, "monitoring");
	assert_int_equal(n_pods(f), 0);
	assert_true(pod_store_generation(f->store) > gen);
	assert_int_equal(health_state(f), HEALTH_CONNECTING);
	assert_string_equal(pod_store_namespace(f->store), "monitoring");
	SUPPORT_WAIT_FOR(f->base,
	                 f->lists == 2 && n_pods(f) == 4 && f->watches == 2 && f->watch != NULL,
	                 3000);
	assert_string_equal(f->last_list_uri, "/api/v1/namespaces/monitoring/pods?limit=500");
	assert_string_equal(f->last_watch_uri,
	                    "/api/v1/namespaces/monitoring/pods?watch=1&allowWatchBookmarks=true&"
	                    "resourceVersion=447200&timeoutSeconds=300");

	/* Refresh: listed again, the rows kept meanwhile. */
	pod_store_refresh(f->store);
	assert_int_equal(n_pods(f), 4);
	SUPPORT_WAIT_FOR(f->base, f->lists == 3 && f->watches == 3 && f->watch != NULL, 3000);
	assert_int_equal(n_pods(f), 4);

	/* Back to all namespaces. */
	pod_store_set_namespace(f->store, NULL);
	SUPPORT_WAIT_FOR(f->base, f->lists == 4 && f->watches == 4 && f->watch != NULL, 3000);
	assert_contains(f->last_list_uri, "/api/v1/pods?");
}

/* The store may be destroyed from its own change callback. */
static void destroy_on_change(void *ud)
{
	struct fixture *f = ud;
	f->changed_calls++;
	pod_store_destroy(f->store);
	f->store = NULL;
}

static void test_store_destroy_from_callback(void **state)
{
	struct fixture *f = *state;
	f->store = pod_store_create(f->base, f->k, NULL, destroy_on_change, f);
	SUPPORT_WAIT_FOR(f->base, f->store == NULL, 5000);
	support_run_for(f->base, 100);
	assert_int_equal(f->changed_calls, 1);
}

/* Many pods, many events in one piece: the set stays right. */
#define MANY 3000

static void test_store_many_pods(void **state)
{
	struct fixture *f = *state;
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{"
	                "\"resourceVersion\":\"5000\"},\"columnDefinitions\":[{\"name\":\"Name\"},"
	                "{\"name\":\"Ready\"},{\"name\":\"Status\"},{\"name\":\"Restarts\"},"
	                "{\"name\":\"Node\"}],\"rows\":[");
	/* Listed in a scrambled order. */
	for (int i = 0; i < MANY; i++) {
		int k = (i * 7919) % MANY;
		buf_appendf(&b,
		            "%s{\"cells\":[\"pod-%05d\",\"1/1\",\"Running\",\"0\",\"n%d\"],"
		            "\"object\":{\"kind\":\"PartialObjectMetadata\",\"metadata\":{\"name\":"
		            "\"pod-%05d\",\"namespace\":\"ns-%d\"}}}",
		            i ? "," : "", k, k % 2, k, k % 10);
	}
	buf_appendf(&b, "]}");
	f->list_body = buf_steal(&b);
	f->list_mode = LIST_BODY;
	f->store = pod_store_create(f->base, f->k, NULL, on_changed, f);
	SUPPORT_WAIT_FOR(f->base, n_pods(f) == MANY && f->watch != NULL, 10000);

	/* Every third pod deleted, every other one restarted, and new ones added. */
	buf_init(&b);
	int64_t t0 = now_mono_ms();
	for (int i = 0; i < MANY; i++) {
		int k = (i * 7919) % MANY;
		const char *type = k % 3 == 0 ? "DELETED" : "MODIFIED";
		buf_appendf(&b,
		            "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":"
		            "\"pod-%05d\",\"namespace\":\"ns-%d\",\"resourceVersion\":\"%d\"},"
		            "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":"
		            "\"Running\",\"containerStatuses\":[{\"name\":\"c\",\"ready\":true,"
		            "\"restartCount\":%d,\"state\":{\"running\":{}}}]}}}\n",
		            type, k, k % 10, 5001 + i, k % 5);
	}
	for (int i = 0; i < 100; i++) {
		buf_appendf(
		        &b,
		        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":"
		        "\"new-%03d\",\"namespace\":\"ns-new\",\"resourceVersion\":\"%d\"}}}\n",
		        i, 9001 + i);
	}
	support_send_chunk(f->watch, b.data, b.len);
	buf_finish(&b);
	SUPPORT_WAIT_FOR(f->base, str_eq(rv(f), "9100"), 20000);
	int64_t took = now_mono_ms() - t0;
	print_message("      %d events applied in %lld ms\n", MANY + 100, (long long)took);

	assert_int_equal(n_pods(f), MANY - (MANY + 2) / 3 + 100);
	size_t n;
	const struct pod_row *rows = pod_store_pods(f->store, &n);
	for (size_t i = 1; i < n; i++) {
		int c = strcmp(rows[i - 1].namespace_, rows[i].namespace_);
		assert_true(c < 0 || (c == 0 && strcmp(rows[i - 1].name, rows[i].name) < 0));
	}
	for (int k = 0; k < MANY; k++) {
		char ns[16], name[16];
		snprintf(ns, sizeof(ns), "ns-%d", k % 10);
		snprintf(name, sizeof(name), "pod-%05d", k);
		const struct pod_row *r = pod(f, ns, name);
		if (k % 3 == 0) {
			assert_null(r);
		} else {
			assert_non_null(r);
			assert_int_equal(r->restarts, k % 5);
		}
	}
	assert_non_null(pod(f, "ns-new", "new-099"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_health_texts),
	        cmocka_unit_test(test_health_backoff),
	        cmocka_unit_test(test_watch_events_real),
	        cmocka_unit_test(test_watch_events_lab),
	        cmocka_unit_test(test_watch_events_garbage),
	        cmocka_unit_test(test_list_resource_version),
	        cmocka_unit_test_setup_teardown(test_store_list_watch_relist, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_store_503_keeps_data_and_retries, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_store_429_retry_after, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_store_list_503, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_store_watch_http_410, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_store_garbage_relists, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_store_namespace_and_refresh, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_store_destroy_from_callback, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_store_many_pods, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
