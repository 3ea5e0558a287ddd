/* test_status_poller.c: the dashboard's poller against a Proxmox API served by an evhttp server on
 * 127.0.0.1 (ephemeral port), on the same libevent loop as the client, with a 1 s refresh. The
 * server answers from tests/fixtures/proxmox, can turn to 503 or answer late, and counts per path
 * how often it was asked and how many requests it held at once. Every wait has a deadline. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <unistd.h>

#include "config.h"
#include "health.h"
#include "http.h"
#include "k8s.h"
#include "pve.h"
#include "pve_rrd.h"
#include "status_poller.h"
#include "support.h"
#include "util.h"

/* cmocka 1.1 has no assert_double_equal */
#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))
#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle))) {                                                    \
			fail_msg("line %d: \"%s\" does not contain \"%s\"", __LINE__, (hay),       \
			         (needle));                                                        \
		}                                                                                  \
	} while (0)

#define MAX_PATHS 16
#define MAX_HELD 16
#define RESOURCES "/api2/json/cluster/resources"
#define TOKEN_ID "labdeck@pve!dash"
#define TOKEN_SECRET "6f1c8a52-9d3e-4b7a-a0c4-2e5f7d9b1c30"

enum server_mode { SERVE_OK, SERVE_503, SERVE_SLOW, SERVE_RETRY_AFTER };

struct hit_log {
	char path[128];
	int count;
	char query[128];
	char auth[128];
};

/* A request the server answers later (SERVE_SLOW). */
struct held {
	struct fixture *f;
	struct evhttp_request *req;
	struct event *timer;
	const char *path; /* one of the static paths below */
};

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	int port;
	enum server_mode mode;
	int slow_ms;
	struct hit_log hits[MAX_PATHS];
	size_t n_hits;
	int resources_open;           /* /cluster/resources requests held right now */
	int resources_open_max;       /* the most ever held at once */
	int64_t resources_replied_ms; /* when the last held one was answered, 0 before */
	int64_t resources_gap_ms;     /* shortest time from such an answer to the next request */
	struct held held[MAX_HELD];
	size_t n_held;
	bool k8s_503; /* the Kubernetes API fails on its own */
	/* SERVE_RETRY_AFTER (and k8s_retry_after for the Kubernetes API alone): this status, with
	 * this Retry-After header */
	int retry_status;
	const char *retry_after;
	bool k8s_retry_after;
	/* files served */
	char *resources, *node_status, *rrd, *vm_config, *k8s_nodes, *k8s_metrics;
	size_t resources_len, node_status_len, rrd_len, vm_config_len, k8s_nodes_len,
	        k8s_metrics_len;
	/* the client */
	struct config_proxmox cfg;
	struct http *http;
	struct pve *pve;
	char *kubeconfig; /* a temporary file, NULL when none */
	struct config_kubernetes kcfg;
	struct k8s *k8s;
	struct status_poller *poller;
	int changed_calls;
};

/* --- the server --- */

static struct hit_log *hits_for(struct fixture *f, const char *path)
{
	for (size_t i = 0; i < f->n_hits; i++) {
		if (strcmp(f->hits[i].path, path) == 0) {
			return &f->hits[i];
		}
	}
	assert_true(f->n_hits < MAX_PATHS);
	struct hit_log *h = &f->hits[f->n_hits++];
	snprintf(h->path, sizeof(h->path), "%s", path);
	return h;
}

static int hit_count(struct fixture *f, const char *path)
{
	for (size_t i = 0; i < f->n_hits; i++) {
		if (strcmp(f->hits[i].path, path) == 0) {
			return f->hits[i].count;
		}
	}
	return 0;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *body,
                  size_t len)
{
	support_reply(req, code, reason, "application/json;charset=UTF-8", body, len);
}

/* Answers a request for path as an healthy Proxmox would. */
static void reply_ok(struct fixture *f, struct evhttp_request *req, const char *path)
{
	if (strcmp(path, RESOURCES) == 0) {
		reply(req, 200, "OK", f->resources, f->resources_len);
	} else if (strcmp(path, "/api2/json/nodes/pve-a/status") == 0) {
		reply(req, 200, "OK", f->node_status, f->node_status_len);
	} else if (strcmp(path, "/api2/json/nodes/pve-a/rrddata") == 0) {
		reply(req, 200, "OK", f->rrd, f->rrd_len);
	} else if (strcmp(path, "/api2/json/nodes/pve-a/qemu/100/config") == 0) {
		reply(req, 200, "OK", f->vm_config, f->vm_config_len);
	} else if (strcmp(path, "/api/v1/nodes") == 0) {
		reply(req, 200, "OK", f->k8s_nodes, f->k8s_nodes_len);
	} else if (strcmp(path, "/apis/metrics.k8s.io/v1beta1/nodes") == 0) {
		reply(req, 200, "OK", f->k8s_metrics, f->k8s_metrics_len);
	} else {
		/* pveproxy's answer to a path it has no handler for */
		reply(req, 501, "Method 'GET /nodes/x' not implemented", "{\"data\":null}", 13);
	}
}

static void on_held_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct held *h = arg;
	if (strcmp(h->path, RESOURCES) == 0) {
		h->f->resources_open--;
		h->f->resources_replied_ms = now_mono_ms();
	}
	reply_ok(h->f, h->req, h->path);
	h->req = NULL;
}

static void on_server_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	struct hit_log *h = hits_for(f, path);
	h->count++;
	snprintf(h->query, sizeof(h->query), "%s", query ? query : "");
	const char *auth =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	snprintf(h->auth, sizeof(h->auth), "%s", auth ? auth : "");

	if ((f->mode == SERVE_RETRY_AFTER && !str_has_prefix(path, "/api/")) ||
	    (f->k8s_retry_after && str_has_prefix(path, "/api/"))) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
		                  f->retry_after);
		reply(req, f->retry_status,
		      f->retry_status == 429 ? "Too Many Requests" : "Service Unavailable", "", 0);
	} else if (f->k8s_503 && str_has_prefix(path, "/api/")) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "0");
		reply(req, 503, "Service Unavailable", "", 0);
	} else if (f->mode == SERVE_503) {
		/* Retry-After: 0 lets the client's own quick retries run at once, so each poll
		 * fails in milliseconds and the test measures the poller's backoff, not the
		 * client's. */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "0");
		reply(req, 503, "Service Unavailable", "", 0);
	} else if (f->mode == SERVE_SLOW && strcmp(path, RESOURCES) == 0) {
		assert_true(f->n_held < MAX_HELD);
		struct held *hd = &f->held[f->n_held++];
		hd->f = f;
		hd->req = req;
		hd->path = RESOURCES;
		hd->timer = evtimer_new(f->base, on_held_timer, hd);
		struct timeval tv = {f->slow_ms / 1000, (f->slow_ms % 1000) * 1000};
		evtimer_add(hd->timer, &tv);
		f->resources_open++;
		if (f->resources_replied_ms > 0) {
			int64_t gap = now_mono_ms() - f->resources_replied_ms;
			if (f->resources_gap_ms < 0 || gap < f->resources_gap_ms) {
				f->resources_gap_ms = gap;
			}
		}
		if (f->resources_open > f->resources_open_max) {
			f->resources_open_max = f->resources_open;
		}
	} else {
		reply_ok(f, req, path);
	}
}

/* --- the loop --- */

typedef bool (*cond_fn)(struct fixture *f, const void *arg);

/* run_until turns the loop until cond holds or max_ms have passed; returns whether it holds. */
static bool run_until(struct fixture *f, cond_fn cond, const void *arg, int64_t max_ms)
{
	int64_t deadline = now_mono_ms() + max_ms;
	while (!cond(f, arg) && support_turn(f->base, deadline)) {
	}
	return cond(f, arg);
}

/* polls_reach: the Proxmox backend has finished *(unsigned *)arg polls. */
static bool polls_reach(struct fixture *f, const void *arg)
{
	return status_poller_polls(f->poller, NODE_PROXMOX) >= *(const unsigned *)arg;
}

static bool is_busy(struct fixture *f, const void *arg)
{
	(void)arg;
	return status_poller_busy(f->poller, NODE_PROXMOX);
}

/* resources_asked: the server got *(int *)arg requests for /cluster/resources. */
static bool resources_asked(struct fixture *f, const void *arg)
{
	return hit_count(f, RESOURCES) >= *(const int *)arg;
}

/* k8s_polls_reach: the Kubernetes backend has finished *(unsigned *)arg polls. */
static bool k8s_polls_reach(struct fixture *f, const void *arg)
{
	return status_poller_polls(f->poller, NODE_KUBERNETES) >= *(const unsigned *)arg;
}

/* server_holding: the server holds a /cluster/resources request (a poll is surely in flight). */
static bool server_holding(struct fixture *f, const void *arg)
{
	(void)arg;
	return f->resources_open > 0;
}

/* history_longer: pve-a's history has more than *(size_t *)arg samples. */
static bool history_longer(struct fixture *f, const void *arg)
{
	const double *cpu, *mem;
	size_t n;
	return status_poller_history(f->poller, "pve-a", NODE_PROXMOX, &cpu, &mem, &n) &&
	       n > *(const size_t *)arg;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = support_base_new(&f->tick);
	f->server = support_server_new(f->base, on_server_request, f, &f->port);

	f->resources =
	        support_fixture("proxmox", "poller_cluster_resources.json", &f->resources_len);
	f->node_status = support_fixture("proxmox", "node_status.json", &f->node_status_len);
	f->rrd = support_fixture("proxmox", "node_rrddata_hour_reboot.json", &f->rrd_len);
	f->vm_config = support_fixture("proxmox", "qemu_config_hostpci.json", &f->vm_config_len);
	f->k8s_nodes = support_fixture("k8s", "nodelist_lab.json", &f->k8s_nodes_len);
	f->k8s_metrics = support_fixture("k8s", "metrics_nodes_lab.json", &f->k8s_metrics_len);

	f->cfg.configured = true;
	f->cfg.url = xasprintf("http://127.0.0.1:%d", f->port);
	f->cfg.token_id = xstrdup(TOKEN_ID);
	f->cfg.token_secret = xstrdup(TOKEN_SECRET);
	f->http = http_create(f->base);
	f->pve = pve_create(f->http, &f->cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	status_poller_destroy(f->poller);
	k8s_destroy(f->k8s);
	pve_destroy(f->pve);
	if (f->kubeconfig) {
		unlink(f->kubeconfig);
		free(f->kubeconfig);
	}
	http_destroy(f->http);
	/* Answer what the server still holds: evhttp handed those requests to us, and answering
	 * one frees it. */
	for (size_t i = 0; i < f->n_held; i++) {
		if (f->held[i].req) {
			evhttp_send_reply(f->held[i].req, 200, "OK", NULL);
		}
		event_free(f->held[i].timer);
	}
	evhttp_free(f->server);
	support_base_free(f->base, f->tick);
	free(f->resources);
	free(f->node_status);
	free(f->rrd);
	free(f->vm_config);
	free(f->k8s_nodes);
	free(f->k8s_metrics);
	free(f->cfg.url);
	free(f->cfg.token_id);
	free(f->cfg.token_secret);
	free(f);
	return 0;
}

static void on_changed(void *ud)
{
	struct fixture *f = ud;
	f->changed_calls++;
}

static void start_poller(struct fixture *f)
{
	f->poller = status_poller_create(f->base, f->pve, NULL, 1, on_changed, f);
	assert_non_null(f->poller);
}

static const struct node_row *find_node(const struct node_list *l, const char *name)
{
	for (size_t i = 0; i < l->len; i++) {
		if (str_eq(l->items[i].name, name)) {
			return &l->items[i];
		}
	}
	return NULL;
}

static const struct guest_row *find_guest(const struct guest_list *l, int vmid)
{
	for (size_t i = 0; i < l->len; i++) {
		if (l->items[i].vmid == vmid) {
			return &l->items[i];
		}
	}
	return NULL;
}

/* Polls the first time and waits for pve-a's history to be seeded (60 points plus samples). */
static void first_poll(struct fixture *f)
{
	start_poller(f);
	unsigned one = 1;
	assert_true(run_until(f, polls_reach, &one, 3000));
	size_t seeded = STATUS_POLLER_SEED;
	assert_true(run_until(f, history_longer, &seeded, 3000));
}

/* --- tests --- */

/* Nothing configured: no polls, both backends say so, the lists are empty. */
static void test_unconfigured(void **state)
{
	struct fixture *f = *state;
	f->poller = status_poller_create(f->base, NULL, NULL, 1, on_changed, f);
	support_run_for(f->base, 300);
	assert_int_equal(status_poller_health(f->poller, NODE_PROXMOX)->state, HEALTH_UNCONFIGURED);
	assert_int_equal(status_poller_health(f->poller, NODE_KUBERNETES)->state,
	                 HEALTH_UNCONFIGURED);
	assert_int_equal(status_poller_nodes(f->poller)->len, 0);
	assert_int_equal(status_poller_guests(f->poller)->len, 0);
	assert_int_equal(status_poller_next_poll_ms(f->poller, NODE_PROXMOX), -1);
	assert_int_equal(f->changed_calls, 0);
	status_poller_refresh_now(f->poller);
	status_poller_cancel(f->poller);
	assert_int_equal(f->n_hits, 0);
	status_poller_destroy(NULL);
}

/* The first poll fills nodes and guests, the health turns ok, and pve-a's history starts with
 * the last 60 rrddata points; the next poll appends a sample. */
static void test_first_poll_and_history(void **state)
{
	struct fixture *f = *state;
	start_poller(f);
	assert_int_equal(status_poller_health(f->poller, NODE_PROXMOX)->state, HEALTH_CONNECTING);
	assert_int_equal(status_poller_health(f->poller, NODE_KUBERNETES)->state,
	                 HEALTH_UNCONFIGURED);
	uint64_t gen0 = status_poller_generation(f->poller);
	unsigned one = 1;
	assert_true(run_until(f, polls_reach, &one, 3000));
	assert_true(status_poller_generation(f->poller) > gen0);
	assert_true(f->changed_calls >= 1);

	const struct health *h = status_poller_health(f->poller, NODE_PROXMOX);
	assert_int_equal(h->state, HEALTH_OK);
	assert_true(fabs(status_poller_refreshed_at(f->poller, NODE_PROXMOX) - now_wall()) < 5);
	assert_near(status_poller_refreshed_at(f->poller, NODE_KUBERNETES), 0, 0);

	const struct node_list *nodes = status_poller_nodes(f->poller);
	assert_int_equal(nodes->len, 2);
	const struct node_row *a = find_node(nodes, "pve-a");
	const struct node_row *b = find_node(nodes, "pve-b");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->source, NODE_PROXMOX);
	assert_string_equal(a->status, "online");
	assert_near(a->cpu, 0.25, 1e-12);
	assert_int_equal(a->mem_used, 33554432000);
	assert_string_equal(b->status, "offline");
	const struct guest_list *guests = status_poller_guests(f->poller);
	assert_int_equal(guests->len, 2);
	const struct guest_row *vm = find_guest(guests, 100);
	assert_non_null(vm);
	assert_string_equal(vm->name, "k8s-gpu");
	assert_int_equal(vm->n_passthrough, 1);
	assert_string_equal(vm->passthrough[0], "0000:01:00.0");
	assert_non_null(find_guest(guests, 105));
	assert_int_equal(status_poller_errors(f->poller, NODE_PROXMOX)->len, 0);

	/* the token went along; rrddata was asked for the online node only, for the last hour */
	assert_string_equal(hits_for(f, RESOURCES)->auth, "PVEAPIToken=" TOKEN_ID "=" TOKEN_SECRET);
	size_t seeded = STATUS_POLLER_SEED;
	assert_true(run_until(f, history_longer, &seeded, 3000));
	assert_int_equal(hit_count(f, "/api2/json/nodes/pve-a/rrddata"), 1);
	assert_string_equal(hits_for(f, "/api2/json/nodes/pve-a/rrddata")->query,
	                    "timeframe=hour&cf=AVERAGE");
	assert_int_equal(hit_count(f, "/api2/json/nodes/pve-b/rrddata"), 0);

	const double *cpu, *mem;
	size_t n;
	assert_true(status_poller_history(f->poller, "pve-a", NODE_PROXMOX, &cpu, &mem, &n));
	assert_int_equal(n, STATUS_POLLER_SEED + 1);
	/* the fixture has 70 points; the seed is points 10..69, with the reboot's gap at 40..43 */
	for (size_t i = 0; i < STATUS_POLLER_SEED; i++) {
		bool gap = i >= 30 && i < 34;
		assert_int_equal(isnan(cpu[i]), gap);
		assert_int_equal(isnan(mem[i]), gap);
	}
	assert_near(cpu[STATUS_POLLER_SEED - 1], 0.5, 1e-12);
	assert_near(mem[STATUS_POLLER_SEED - 1], 0.319, 1e-9);
	assert_near(mem[0], 0.25 + 0.001 * 10, 1e-9);
	/* then the poll's own sample, from /cluster/resources */
	assert_near(cpu[STATUS_POLLER_SEED], 0.25, 1e-12);
	assert_near(mem[STATUS_POLLER_SEED], 0.25, 1e-12);

	/* the offline node has a history of gaps, not seeded */
	assert_true(status_poller_history(f->poller, "pve-b", NODE_PROXMOX, &cpu, &mem, &n));
	assert_int_equal(n, 1);
	assert_true(isnan(cpu[0]) && isnan(mem[0]));
	assert_false(status_poller_history(f->poller, "pve-a", NODE_KUBERNETES, &cpu, &mem, &n));
	assert_int_equal(n, 0);
	assert_null(cpu);
	assert_false(status_poller_history(f->poller, "nosuch", NODE_PROXMOX, &cpu, &mem, &n));

	/* the next poll comes about refresh_s after the first, and adds one sample */
	int64_t next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next >= 0 && next <= 1000);
	unsigned two = 2;
	int64_t t0 = now_mono_ms();
	assert_true(run_until(f, polls_reach, &two, 3000));
	assert_true(now_mono_ms() - t0 >= next - 50);
	assert_true(status_poller_history(f->poller, "pve-a", NODE_PROXMOX, &cpu, &mem, &n));
	assert_int_equal(n, STATUS_POLLER_SEED + 2);
	assert_int_equal(hit_count(f, "/api2/json/nodes/pve-a/rrddata"), 1); /* seeded once */
}

/* The server fails: the health says so, the old data stays, the retries back off (1 s, 2 s, ...
 * capped at 30 s); when it recovers the health is ok again. */
static void test_failure_backoff_and_recovery(void **state)
{
	struct fixture *f = *state;
	first_poll(f);
	double refreshed = status_poller_refreshed_at(f->poller, NODE_PROXMOX);
	const double *cpu, *mem;
	size_t hist_before;
	assert_true(
	        status_poller_history(f->poller, "pve-a", NODE_PROXMOX, &cpu, &mem, &hist_before));

	f->mode = SERVE_503;
	unsigned polls = status_poller_polls(f->poller, NODE_PROXMOX) + 1;
	int changed = f->changed_calls;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_true(f->changed_calls > changed);
	const struct health *h = status_poller_health(f->poller, NODE_PROXMOX);
	assert_int_equal(h->state, HEALTH_FAILING);
	assert_int_equal(h->failures, 1);
	assert_int_equal(h->last_err.code, ERR_SERVER);
	assert_int_equal(h->last_err.http_status, 503);
	assert_true(strstr(h->last_err.msg, "503") != NULL);
	/* the last good data is kept, and the status line can say how old it is and when the next
	 * try comes (about 1 s: 0.8 to 1.2 s, rounded up) */
	assert_int_equal(status_poller_nodes(f->poller)->len, 2);
	assert_int_equal(status_poller_guests(f->poller)->len, 2);
	assert_near(status_poller_refreshed_at(f->poller, NODE_PROXMOX), refreshed, 0);
	char text[160];
	health_describe(h, now_wall(), 1, text, sizeof(text));
	if (!str_has_prefix(text, "failing, retry in 1s: 503 ") &&
	    !str_has_prefix(text, "failing, retry in 2s: 503 ")) {
		fail_msg("no retry time before the reason: %s", text);
	}
	assert_true(strstr(text, "data") != NULL);
	/* a failed poll adds no sample */
	size_t n;
	assert_true(status_poller_history(f->poller, "pve-a", NODE_PROXMOX, &cpu, &mem, &n));
	assert_int_equal(n, hist_before);

	/* the first retry after about 1 s (health's ±20 % jitter) */
	int64_t next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next >= 700 && next <= 1200);
	int64_t t0 = now_mono_ms();
	polls++;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_true(now_mono_ms() - t0 >= next - 50);
	assert_int_equal(h->failures, 2);
	next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next >= 1500 && next <= 2400); /* doubled */

	/* more failures, without waiting: `r` polls at once, and the delay keeps growing, then
	 * stops at 30 s */
	int64_t prev = next;
	for (int i = 3; i <= 8; i++) {
		status_poller_refresh_now(f->poller);
		assert_true(status_poller_busy(f->poller, NODE_PROXMOX));
		assert_int_equal(status_poller_next_poll_ms(f->poller, NODE_PROXMOX), -1);
		polls++;
		assert_true(run_until(f, polls_reach, &polls, 3000));
		assert_int_equal(h->failures, i);
		next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
		assert_true(next <= 30000);
		if (i <= 6) {
			assert_true(next > prev);
		} else {
			assert_true(next >= 24000 - 100);
		}
		prev = next;
	}
	assert_int_equal(status_poller_nodes(f->poller)->len, 2);

	/* back: ok again at once on `r`, the old backoff forgotten */
	f->mode = SERVE_OK;
	status_poller_refresh_now(f->poller);
	polls++;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_int_equal(h->state, HEALTH_OK);
	assert_int_equal(h->failures, 0);
	assert_true(status_poller_refreshed_at(f->poller, NODE_PROXMOX) > refreshed);
	next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next >= 0 && next <= 1000);
	assert_true(status_poller_history(f->poller, "pve-a", NODE_PROXMOX, &cpu, &mem, &n));
	assert_int_equal(n, hist_before + 1);
	health_describe(h, now_wall(), 1, text, sizeof(text));
	assert_string_equal(text, "ok");
}

/* Hidden, polls are 4 x rarer; `r` polls at once anyway; shown again with old data, at once. */
static void test_refresh_now_and_visibility(void **state)
{
	struct fixture *f = *state;
	first_poll(f);
	unsigned polls = status_poller_polls(f->poller, NODE_PROXMOX);

	status_poller_set_visible(f->poller, false);
	int64_t next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next > 2500 && next <= 4000);

	int64_t t0 = now_mono_ms();
	status_poller_refresh_now(f->poller);
	assert_true(status_poller_busy(f->poller, NODE_PROXMOX));
	polls++;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_true(now_mono_ms() - t0 < 900);
	assert_int_equal(hit_count(f, RESOURCES), (int)polls);
	next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next > 3000 && next <= 4000); /* still hidden */

	/* nothing for a while: the hidden pace holds */
	support_run_for(f->base, 1300);
	assert_int_equal(status_poller_polls(f->poller, NODE_PROXMOX), polls);

	/* shown again: the data is older than refresh_s, so it is fetched at once */
	t0 = now_mono_ms();
	status_poller_set_visible(f->poller, true);
	polls++;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_true(now_mono_ms() - t0 < 900);
}

/* A server slower than the refresh: polls never overlap; Esc cancels the one in flight, and the
 * next comes at the next tick. */
static void test_slow_server_one_in_flight(void **state)
{
	struct fixture *f = *state;
	first_poll(f);
	f->mode = SERVE_SLOW;
	f->slow_ms = 1300;
	f->resources_gap_ms = -1;
	unsigned polls = status_poller_polls(f->poller, NODE_PROXMOX) + 1;
	assert_true(run_until(f, polls_reach, &polls, 4000));
	assert_int_equal(f->resources_open_max, 1);
	assert_int_equal(status_poller_health(f->poller, NODE_PROXMOX)->state, HEALTH_OK);

	/* the next one: not the moment the slow answer came, and again alone */
	assert_true(run_until(f, server_holding, NULL, 3000));
	assert_true(f->resources_gap_ms >= 400);

	/* `r` while a poll is in flight does not start a second one */
	assert_true(status_poller_busy(f->poller, NODE_PROXMOX));
	int asked = hit_count(f, RESOURCES);
	status_poller_refresh_now(f->poller);
	support_run_for(f->base, 200);
	assert_int_equal(hit_count(f, RESOURCES), asked);
	assert_int_equal(f->resources_open_max, 1);

	/* Esc: nothing in flight, the health as it was, the next try in about one refresh */
	uint64_t gen = status_poller_generation(f->poller);
	unsigned done = status_poller_polls(f->poller, NODE_PROXMOX);
	status_poller_cancel(f->poller);
	assert_false(status_poller_busy(f->poller, NODE_PROXMOX));
	assert_true(status_poller_generation(f->poller) > gen);
	assert_int_equal(status_poller_health(f->poller, NODE_PROXMOX)->state, HEALTH_OK);
	int64_t next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next >= 900 && next <= 1000);
	support_run_for(f->base, 500);
	assert_int_equal(status_poller_polls(f->poller, NODE_PROXMOX), done); /* no callback */
	assert_int_equal(hit_count(f, RESOURCES), asked);                     /* no new poll */
	int64_t t0 = now_mono_ms();
	assert_true(run_until(f, is_busy, NULL, 1000));
	assert_true(now_mono_ms() - t0 >= next - 500 - 50);
	int again = asked + 1;
	assert_true(run_until(f, resources_asked, &again, 1000));
	/* teardown destroys the poller with this poll in flight */
}

/* A kubeconfig (fake token) for the test server, in a temporary file. */
static void make_k8s(struct fixture *f)
{
	f->kubeconfig = support_kubeconfig_new(f->port, "fake-viewer-token");
	f->kcfg.configured = true;
	f->kcfg.kubeconfig = f->kubeconfig;
	f->k8s = k8s_create(f->base, f->http, &f->kcfg);
}

/* Both backends: one node list, Proxmox rows then Kubernetes rows, with the Kubernetes extras
 * and histories; one backend failing leaves the other alone. */
static void test_kubernetes_alongside(void **state)
{
	struct fixture *f = *state;
	make_k8s(f);
	f->poller = status_poller_create(f->base, f->pve, f->k8s, 1, on_changed, f);
	unsigned one = 1;
	assert_true(run_until(f, polls_reach, &one, 3000));
	assert_true(run_until(f, k8s_polls_reach, &one, 3000));
	assert_int_equal(status_poller_health(f->poller, NODE_KUBERNETES)->state, HEALTH_OK);
	assert_true(status_poller_refreshed_at(f->poller, NODE_KUBERNETES) > 0);
	assert_string_equal(hits_for(f, "/api/v1/nodes")->auth, "Bearer fake-viewer-token");

	const struct node_list *nodes = status_poller_nodes(f->poller);
	const char *order[] = {"pve-a", "pve-b", "pve-cp1", "gpu-worker", "edge-rpi", "lost-node"};
	assert_int_equal(nodes->len, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(nodes->items[i].name, order[i]);
		assert_int_equal(nodes->items[i].source, i < 2 ? NODE_PROXMOX : NODE_KUBERNETES);
	}
	assert_true(status_poller_k8s_metrics(f->poller));
	const struct k8s_node_extra *x = status_poller_k8s_extra(f->poller, "gpu-worker");
	assert_non_null(x);
	assert_int_equal(x->alloc_cpu_milli, 16000);
	assert_int_equal(x->alloc_mem, INT64_C(64) << 30);
	assert_null(status_poller_k8s_extra(f->poller, "pve-a"));

	/* 15250m of 16 CPUs, 63Gi of 65536Mi */
	const double *cpu, *mem;
	size_t n;
	assert_true(
	        status_poller_history(f->poller, "gpu-worker", NODE_KUBERNETES, &cpu, &mem, &n));
	assert_int_equal(n, 1);
	assert_near(cpu[0], 15.25 / 16, 1e-9);
	assert_near(mem[0], 63.0 / 64, 1e-9);
	assert_false(status_poller_history(f->poller, "gpu-worker", NODE_PROXMOX, &cpu, &mem, &n));

	/* Kubernetes fails alone: its rows stay, Proxmox goes on */
	f->k8s_503 = true;
	unsigned k = status_poller_polls(f->poller, NODE_KUBERNETES) + 1;
	unsigned p = status_poller_polls(f->poller, NODE_PROXMOX) + 1;
	assert_true(run_until(f, k8s_polls_reach, &k, 3000));
	assert_true(run_until(f, polls_reach, &p, 3000));
	assert_int_equal(status_poller_health(f->poller, NODE_KUBERNETES)->state, HEALTH_FAILING);
	assert_int_equal(status_poller_health(f->poller, NODE_PROXMOX)->state, HEALTH_OK);
	assert_int_equal(status_poller_nodes(f->poller)->len, 6);
	assert_non_null(status_poller_k8s_extra(f->poller, "gpu-worker"));
}

/* A 429 or 503 with a Retry-After longer than the client waits inside a request (30 s): the next
 * poll comes no sooner than the server asked, never later than 5 minutes, and the status line's
 * text says when; the backoff still counts when it is the longer wait. */
static void test_retry_after_honoured(void **state)
{
	struct fixture *f = *state;
	first_poll(f);
	const struct health *h = status_poller_health(f->poller, NODE_PROXMOX);

	f->mode = SERVE_RETRY_AFTER;
	f->retry_status = 429;
	f->retry_after = "45";
	status_poller_refresh_now(f->poller);
	unsigned polls = status_poller_polls(f->poller, NODE_PROXMOX) + 1;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_int_equal(h->state, HEALTH_FAILING);
	assert_int_equal(h->last_err.http_status, 429);
	assert_contains(h->last_err.msg, "the server asks to retry after 45 s");
	int64_t next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	if (next < 45000 - 100 || next > 45000) {
		fail_msg("next poll in %lld ms after Retry-After: 45", (long long)next);
	}
	char text[200];
	health_describe(h, now_wall(), 1, text, sizeof(text));
	assert_true(str_has_prefix(text, "failing, retry in 45s: 429 "));
	assert_contains(text, " — data ");
	/* the 1 s backoff does not bring it back sooner */
	int asked = hit_count(f, RESOURCES);
	support_run_for(f->base, 1500);
	assert_int_equal(hit_count(f, RESOURCES), asked);
	assert_int_equal(status_poller_polls(f->poller, NODE_PROXMOX), polls);
	health_describe(h, now_wall(), 1, text, sizeof(text));
	if (!str_has_prefix(text, "failing, retry in 43s: ") &&
	    !str_has_prefix(text, "failing, retry in 44s: ")) {
		fail_msg("the countdown does not go down: %s", text);
	}

	/* an hour asked for: capped at 5 minutes */
	f->retry_after = "3600";
	status_poller_refresh_now(f->poller);
	polls++;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next >= 300000 - 100 && next <= 300000);
	health_describe(h, now_wall(), 1, text, sizeof(text));
	assert_true(str_has_prefix(text, "failing, retry in 5m: 429 "));

	/* a 503 is honoured the same way */
	f->retry_status = 503;
	f->retry_after = "40";
	status_poller_refresh_now(f->poller);
	polls++;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_int_equal(h->last_err.http_status, 503);
	next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next >= 40000 - 100 && next <= 40000);

	/* Retry-After: 0 asks for nothing longer than the backoff: the backoff (4 s after 4
	 * failures, ±20 %) it is */
	f->retry_after = "0";
	status_poller_refresh_now(f->poller);
	polls++;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_int_equal(h->failures, 4);
	next = status_poller_next_poll_ms(f->poller, NODE_PROXMOX);
	assert_true(next >= 6400 - 100 && next <= 9600);

	/* back: ok, and no retry time left to show */
	f->mode = SERVE_OK;
	status_poller_refresh_now(f->poller);
	polls++;
	assert_true(run_until(f, polls_reach, &polls, 3000));
	assert_int_equal(h->state, HEALTH_OK);
	assert_near(h->retry_at, 0, 0);
	health_describe(h, now_wall(), 1, text, sizeof(text));
	assert_string_equal(text, "ok");
}

/* The Kubernetes node poll honours a 429's Retry-After too, and Proxmox keeps its own pace. */
static void test_retry_after_kubernetes(void **state)
{
	struct fixture *f = *state;
	make_k8s(f);
	f->poller = status_poller_create(f->base, f->pve, f->k8s, 1, on_changed, f);
	unsigned one = 1;
	assert_true(run_until(f, k8s_polls_reach, &one, 3000));
	f->k8s_retry_after = true;
	f->retry_status = 429;
	f->retry_after = "50";
	status_poller_refresh_now(f->poller);
	unsigned k = status_poller_polls(f->poller, NODE_KUBERNETES) + 1;
	assert_true(run_until(f, k8s_polls_reach, &k, 3000));
	const struct health *h = status_poller_health(f->poller, NODE_KUBERNETES);
	assert_int_equal(h->state, HEALTH_FAILING);
	assert_int_equal(h->last_err.http_status, 429);
	int64_t next = status_poller_next_poll_ms(f->poller, NODE_KUBERNETES);
	if (next < 50000 - 100 || next > 50000) {
		fail_msg("next Kubernetes poll in %lld ms after Retry-After: 50", (long long)next);
	}
	char text[200];
	health_describe(h, now_wall(), 1, text, sizeof(text));
	assert_true(str_has_prefix(text, "failing, retry in 50s: 429 "));
	assert_int_equal(status_poller_health(f->poller, NODE_PROXMOX)->state, HEALTH_OK);
	assert_true(status_poller_next_poll_ms(f->poller, NODE_PROXMOX) <= 1000);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_unconfigured, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_first_poll_and_history, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_failure_backoff_and_recovery, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_refresh_now_and_visibility, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_slow_server_one_in_flight, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_kubernetes_alongside, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retry_after_honoured, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retry_after_kubernetes, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
