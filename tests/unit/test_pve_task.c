/* test_pve_task.c: Proxmox power actions: the UPID, task status and log answers (real shapes in
 * tests/fixtures/proxmox), the error messages, and the client against a local server: the POST
 * is sent once and never retried, a task is followed to its end, a failed one's log is read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "err.h"
#include "http.h"
#include "model.h"
#include "pve_parse.h"
#include "pve_task.h"
#include "support.h"
#include "util.h"

static char *body_of(const char *s, size_t *len)
{
	*len = strlen(s);
	char *exact = xmalloc(*len);
	memcpy(exact, s, *len);
	return exact;
}

/* --- actions and UPIDs --- */

static void test_action_names(void **state)
{
	enum pve_action a;
	assert_true(pve_action_parse("shutdown", &a));
	assert_int_equal(a, PVE_ACTION_SHUTDOWN);
	assert_string_equal(pve_action_name(a), "shutdown");
	assert_true(pve_action_parse("reboot", &a));
	assert_string_equal(pve_action_name(a), "reboot");
	assert_false(pve_action_parse("Stop", &a));
	assert_false(pve_action_parse("suspend", &a));
	assert_false(pve_action_parse("", &a));
}

static void test_upid_token(void **state)
{
	struct pve_upid u;
	struct err e;
	assert_true(pve_upid_parse(
	        "UPID:pve1:000F1B00:05A3C5E0:66F00200:vzdump:101:root@pam!homelab:", &u, &e));
	assert_string_equal(u.node, "pve1");
	assert_int_equal(u.pid, 0x000F1B00);
	assert_int_equal(u.pstart, 0x05A3C5E0);
	assert_int_equal(u.starttime, 0x66F00200);
	assert_string_equal(u.type, "vzdump");
	assert_string_equal(u.id, "101");
	assert_string_equal(u.user, "root@pam!homelab");
	pve_upid_finish(&u);
}

static void test_upid_forms(void **state)
{
	struct pve_upid u;
	struct err e;
	/* PVE 7's LXC answer leaves the trailing ':' out */
	assert_true(
	        pve_upid_parse("UPID:node1:0031B740:0645340C:23E5BA99:vzstart:101:root", &u, &e));
	assert_string_equal(u.user, "root");
	assert_string_equal(u.type, "vzstart");
	pve_upid_finish(&u);
	/* a 9-digit pstart (a node up for more than ~500 days) and an empty id */
	assert_true(pve_upid_parse(
	        "UPID:pve-a:00001234:1A3C5E0F0:66F00200:aptupdate::root@pam:", &u, &e));
	assert_int_equal(u.pstart, 0x1A3C5E0F0ULL);
	assert_string_equal(u.id, "");
	assert_string_equal(u.node, "pve-a");
	pve_upid_finish(&u);
}

static void test_upid_bad(void **state)
{
	struct pve_upid u;
	struct err e;
	const char *bad[] = {
	        "",
	        "UPID:",
	        "upid:pve1:000F1B00:05A3C5E0:66F00200:qmstart:101:root@pam:",
	        "UPID:pve1:000F1B0:05A3C5E0:66F00200:qmstart:101:root@pam:",    /* 7 hex digits */
	        "UPID:pve1:000F1B0Z:05A3C5E0:66F00200:qmstart:101:root@pam:",   /* not hex */
	        "UPID::000F1B00:05A3C5E0:66F00200:qmstart:101:root@pam:",       /* no node */
	        "UPID:pve1:000F1B00:05A3C5E0:66F00200:qmstart:101:",            /* no user */
	        "UPID:pve1:000F1B00:05A3C5E0:66F00200:qmstart:101:root@pam:x:", /* a field too many
	                                                                         */
	        "UPID:pve1:000F1B00:05A3C5E0:66F00200:qmstart",                 /* too few */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		if (pve_upid_parse(bad[i], &u, &e)) {
			fail_msg("accepted '%s'", bad[i]);
		}
		assert_int_equal(e.code, ERR_MALFORMED);
		assert_null(u.node);
	}
	assert_false(pve_upid_parse(NULL, &u, &e));
}

/* --- answers --- */

static void test_started(void **state)
{
	size_t len;
	char *body = support_fixture_exact("proxmox", "qemu_status_start.json", &len);
	char *upid;
	struct err e;
	assert_true(pve_task_parse_started(body, len, &upid, &e));
	assert_string_equal(upid, "UPID:node1:00000005:00000005:00000005:qmstart:100:root@pam:");
	free(upid);
	free(body);
	body = support_fixture_exact("proxmox", "lxc_status_start_pve7.json", &len);
	assert_true(pve_task_parse_started(body, len, &upid, &e));
	assert_string_equal(upid, "UPID:node1:0031B740:0645340C:23E5BA99:vzstart:101:root");
	free(upid);
	free(body);
	/* data that is no task id, and no data at all */
	body = body_of("{\"data\":null}", &len);
	assert_false(pve_task_parse_started(body, len, &upid, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	assert_null(upid);
	free(body);
	body = body_of("{\"data\":\"OK\"}", &len);
	assert_false(pve_task_parse_started(body, len, &upid, &e));
	free(body);
	body = body_of("<html>502</html>", &len);
	assert_false(pve_task_parse_started(body, len, &upid, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	free(body);
}

static void test_status_running(void **state)
{
	size_t len;
	char *body = support_fixture_exact("proxmox", "task_status_running.json", &len);
	struct pve_task_status st;
	struct err e;
	assert_true(pve_task_parse_status(body, len, &st, &e));
	assert_true(st.running);
	assert_null(st.exitstatus);
	assert_false(pve_task_succeeded(&st));
	assert_string_equal(st.node, "node1");
	assert_int_equal(st.starttime, 1693252591);
	assert_int_equal(st.endtime, -1);
	pve_task_status_finish(&st);
	free(body);
}

static void test_status_stopped(void **state)
{
	size_t len;
	char *body = support_fixture_exact("proxmox", "task_status_stopped_ok.json", &len);
	struct pve_task_status st;
	struct err e;
	assert_true(pve_task_parse_status(body, len, &st, &e));
	assert_false(st.running);
	assert_string_equal(st.exitstatus, "OK");
	assert_true(pve_task_succeeded(&st));
	assert_int_equal(st.endtime, 1693252600);
	pve_task_status_finish(&st);
	free(body);

	body = support_fixture_exact("proxmox", "task_status_stopped_error.json", &len);
	assert_true(pve_task_parse_status(body, len, &st, &e));
	assert_false(st.running);
	assert_string_equal(st.exitstatus, "some error occurred");
	assert_false(pve_task_succeeded(&st));
	pve_task_status_finish(&st);
	free(body);

	/* warnings are a success; a stopped task without exitstatus is not */
	body = body_of("{\"data\":{\"status\":\"stopped\",\"exitstatus\":\"WARNINGS: 2\"}}", &len);
	assert_true(pve_task_parse_status(body, len, &st, &e));
	assert_true(pve_task_succeeded(&st));
	pve_task_status_finish(&st);
	free(body);
	body = body_of("{\"data\":{\"status\":\"stopped\"}}", &len);
	assert_true(pve_task_parse_status(body, len, &st, &e));
	assert_false(pve_task_succeeded(&st));
	pve_task_status_finish(&st);
	free(body);
	body = body_of("{\"data\":{\"status\":\"paused\"}}", &len);
	assert_false(pve_task_parse_status(body, len, &st, &e));
	assert_int_equal(e.code, ERR_MALFORMED);
	free(body);
}

static void test_log(void **state)
{
	size_t len;
	char *body = support_fixture_exact("proxmox", "task_log.json", &len);
	struct pve_task_log log;
	struct err e;
	assert_true(pve_task_parse_log(body, len, &log, &e));
	assert_int_equal(log.len, 5);
	assert_string_equal(log.lines[0], "task started");
	assert_string_equal(log.lines[4], "task completed successfully");
	assert_int_equal(log.total, -1);
	pve_task_log_finish(&log);
	free(body);
	body = body_of("{\"data\":[{\"n\":1,\"t\":\"a\"},{\"n\":2}],\"total\":7}", &len);
	assert_true(pve_task_parse_log(body, len, &log, &e));
	assert_int_equal(log.len, 2);
	assert_string_equal(log.lines[1], "");
	assert_int_equal(log.total, 7);
	pve_task_log_finish(&log);
	free(body);
	body = body_of("{\"data\":{}}", &len);
	assert_false(pve_task_parse_log(body, len, &log, &e));
	free(body);
}

static void test_find_guest(void **state)
{
	size_t len;
	char *body = support_fixture_exact("proxmox", "cluster_resources.json", &len);
	struct guest_list guests = {0};
	struct err e;
	assert_true(pve_parse_cluster_resources(body, len, NULL, &guests, &e));
	const struct guest_row *g = pve_task_find_guest(&guests, 100);
	assert_non_null(g);
	assert_string_equal(g->node, "node2");
	assert_string_equal(g->type, "qemu");
	assert_string_equal(g->name, "server1");
	assert_null(pve_task_find_guest(&guests, 999));
	guest_list_finish(&guests);
	free(body);
}

/* --- error messages --- */

static void test_errors(void **state)
{
	struct err in, out;
	err_set(&in, ERR_SERVER, 500, "proxmox: 500");
	char msg[] = "{\"data\":null,\"message\":\"VM 100 not running\\n\"}";
	struct http_response r = {.status = 500,
	                          .reason = "VM 100 not running",
	                          .body = msg,
	                          .len = strlen(msg),
	                          .retry_after = -1};
	pve_task_error(&out, &r, &in, "reboot guest 100");
	assert_int_equal(out.code, ERR_REJECTED);
	assert_int_equal(err_exit_status(out.code), 1);
	assert_string_equal(out.msg, "proxmox: reboot guest 100: VM 100 not running");

	/* an old server: the message only in the reason phrase */
	struct http_response r2 = {.status = 500,
	                           .reason =
	                                   "Configuration file 'nodes/pve-a/qemu-server/999.conf' "
	                                   "does not exist",
	                           .body = "",
	                           .len = 0,
	                           .retry_after = -1};
	pve_task_error(&out, &r2, &in, "start guest 999");
	assert_int_equal(out.code, ERR_REJECTED);
	assert_non_null(strstr(out.msg, "999.conf' does not exist"));

	char msg3[] = "{\"data\":null,\"message\":\"Permission check failed (/vms/101, "
	              "VM.PowerMgmt)\\n\"}";
	struct http_response r3 = {.status = 403,
	                           .reason = "Permission check failed",
	                           .body = msg3,
	                           .len = strlen(msg3),
	                           .retry_after = -1};
	err_set(&in, ERR_AUTH, 403, "proxmox: 403");
	pve_task_error(&out, &r3, &in, "stop guest 101");
	assert_int_equal(out.code, ERR_AUTH);
	assert_int_equal(err_exit_status(out.code), 4);
	assert_non_null(strstr(out.msg, "Permission check failed (/vms/101, VM.PowerMgmt)"));
	assert_non_null(strstr(out.msg, "PVEVMUser"));
	assert_null(strchr(out.msg, '\n'));

	struct http_response r4 = {.status = 596,
	                           .reason = "Connection timed out",
	                           .body = "",
	                           .len = 0,
	                           .retry_after = -1};
	err_set(&in, ERR_SERVER, 596, "proxmox: 596");
	pve_task_error(&out, &r4, &in, "stop guest 101");
	assert_int_equal(err_exit_status(out.code), 3);

	struct http_response r5 = {.status = 401,
	                           .reason = "authentication failure",
	                           .body = "",
	                           .len = 0,
	                           .retry_after = -1};
	err_set(&in, ERR_AUTH, 401, "proxmox: 401");
	pve_task_error(&out, &r5, &in, "stop guest 101");
	assert_int_equal(out.code, ERR_AUTH);
	assert_non_null(strstr(out.msg, "401"));
}

/* --- the client against a local server --- */

struct srv {
	int posts;          /* POSTs seen */
	int status_reads;   /* status GETs seen */
	int log_reads;      /* log GETs seen */
	int post_code;      /* what the POST answers */
	bool task_fails;    /* the task ends with an error */
	char post_uri[256]; /* the POST's path */
	char status_uri[512];
	char auth[160];
};

static const char *UPID = "UPID:pve-a:0000ABCD:00001234:66F00200:qmstop:101:root@pam!labdeck:";

static void on_request(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	const char *auth =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	snprintf(s->auth, sizeof(s->auth), "%s", auth ? auth : "");
	char body[1024];
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		s->posts++;
		snprintf(s->post_uri, sizeof(s->post_uri), "%s", uri);
		if (s->post_code != 200) {
			const char *m = "{\"data\":null,\"message\":\"CT 110 not running\\n\"}";
			support_reply(req, s->post_code, "CT 110 not running", "application/json",
			              m, strlen(m));
			return;
		}
		snprintf(body, sizeof(body), "{\"data\":\"%s\"}", UPID);
	} else if (strstr(uri, "/status")) {
		s->status_reads++;
		snprintf(s->status_uri, sizeof(s->status_uri), "%s", uri);
		if (s->status_reads < 3) {
			snprintf(body, sizeof(body),
			         "{\"data\":{\"status\":\"running\",\"upid\":\"%s\",\"node\":\"pve-"
			         "a\"}}",
			         UPID);
		} else {
			snprintf(body, sizeof(body),
			         "{\"data\":{\"status\":\"stopped\",\"exitstatus\":\"%s\",\"upid\":"
			         "\"%s\"}"
			         "}",
			         s->task_fails ? "got timeout" : "OK", UPID);
		}
	} else if (strstr(uri, "/log")) {
		s->log_reads++;
		snprintf(
		        body, sizeof(body),
		        "{\"data\":[{\"n\":1,\"t\":\"one\"},{\"n\":2,\"t\":\"two\"},{\"n\":3,\"t\":"
		        "\"three\"},{\"n\":4,\"t\":\"TASK ERROR: got timeout\"}],\"total\":4}");
	} else {
		snprintf(body, sizeof(body), "{\"data\":null}");
	}
	support_reply(req, 200, "OK", "application/json", body, strlen(body));
}

struct got {
	bool started, ended;
	char *upid;
	struct err err;
	int progress;
	bool end_ok;
	char exitstatus[64];
	char log[256];
	bool had_log;
};

static void on_started(void *ud, const char *upid, const struct err *err)
{
	struct got *g = ud;
	g->started = true;
	g->upid = upid ? xstrdup(upid) : NULL;
	if (err) {
		g->err = *err;
	}
}

static void on_progress(void *ud, const struct pve_task_status *st)
{
	struct got *g = ud;
	g->progress++;
}

static void on_end(void *ud, const struct pve_task_status *st, const struct pve_task_log *log,
                   const struct err *err)
{
	struct got *g = ud;
	g->ended = true;
	if (st) {
		g->end_ok = pve_task_succeeded(st);
		snprintf(g->exitstatus, sizeof(g->exitstatus), "%s", st->exitstatus);
	}
	if (log) {
		g->had_log = true;
		for (size_t i = 0; i < log->len; i++) {
			strncat(g->log, log->lines[i], sizeof(g->log) - strlen(g->log) - 2);
			strcat(g->log, "|");
		}
	}
	if (err) {
		g->err = *err;
	}
}

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct evhttp *server;
	struct http *http;
	struct config_proxmox cfg;
	struct pve_task_client *tc;
	struct srv srv;
	int port;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->base = support_base_new(&f->tick);
	f->server = support_server_new(f->base, on_request, &f->srv, &f->port);
	f->http = http_create(f->base);
	f->cfg.configured = true;
	f->cfg.url = xasprintf("http://127.0.0.1:%d", f->port);
	f->cfg.token_id = "root@pam!labdeck";
	f->cfg.token_secret = "s3cret";
	f->srv.post_code = 200;
	f->tc = pve_task_client_create(f->base, f->http, &f->cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pve_task_client_destroy(f->tc);
	http_destroy(f->http);
	evhttp_free(f->server);
	free(f->cfg.url);
	support_base_free(f->base, f->tick);
	free(f);
	return 0;
}

static void test_client_start_and_follow(void **state)
{
	struct fixture *f = *state;
	struct got g = {0};
	pve_task_start(f->tc, "pve-a", "qemu", 101, PVE_ACTION_STOP, on_started, &g);
	SUPPORT_WAIT_FOR(f->base, g.started, 5000);
	assert_int_equal(f->srv.posts, 1);
	assert_string_equal(f->srv.post_uri, "/api2/json/nodes/pve-a/qemu/101/status/stop");
	assert_string_equal(f->srv.auth, "PVEAPIToken=root@pam!labdeck=s3cret");
	assert_non_null(g.upid);
	assert_string_equal(g.upid, UPID);
	pve_task_follow(f->tc, g.upid, 20, 10, on_progress, on_end, &g);
	SUPPORT_WAIT_FOR(f->base, g.ended, 5000);
	assert_int_equal(f->srv.status_reads, 3);
	assert_int_equal(g.progress, 3);
	assert_true(g.end_ok);
	assert_string_equal(g.exitstatus, "OK");
	assert_false(g.had_log);
	assert_int_equal(f->srv.log_reads, 0);
	/* the node from the UPID, the UPID escaped (':' '@' '!') */
	assert_non_null(strstr(f->srv.status_uri, "/api2/json/nodes/pve-a/tasks/UPID%3Apve-a%3A"));
	assert_non_null(strstr(f->srv.status_uri, "root%40pam%21labdeck%3A/status"));
	free(g.upid);
}

static void test_client_failed_task_log(void **state)
{
	struct fixture *f = *state;
	f->srv.task_fails = true;
	struct got g = {0};
	pve_task_follow(f->tc, UPID, 10, 2, NULL, on_end, &g);
	SUPPORT_WAIT_FOR(f->base, g.ended, 5000);
	assert_false(g.end_ok);
	assert_string_equal(g.exitstatus, "got timeout");
	assert_int_equal(f->srv.log_reads, 1);
	assert_true(g.had_log);
	/* the last two lines only */
	assert_string_equal(g.log, "three|TASK ERROR: got timeout|");
}

static void test_client_refused_not_retried(void **state)
{
	struct fixture *f = *state;
	f->srv.post_code = 500;
	struct got g = {0};
	pve_task_start(f->tc, "pve-a", "lxc", 110, PVE_ACTION_SHUTDOWN, on_started, &g);
	SUPPORT_WAIT_FOR(f->base, g.started, 5000);
	support_run_for(f->base, 200);
	assert_int_equal(f->srv.posts, 1); /* a 500 to a POST is never sent again */
	assert_string_equal(f->srv.post_uri, "/api2/json/nodes/pve-a/lxc/110/status/shutdown");
	assert_null(g.upid);
	assert_int_equal(g.err.code, ERR_REJECTED);
	assert_string_equal(g.err.msg, "proxmox: shutdown guest 110: CT 110 not running");
}

static void test_client_follow_cancel(void **state)
{
	struct fixture *f = *state;
	struct got g = {0};
	struct pve_task_follow *fl = pve_task_follow(f->tc, UPID, 50, 10, on_progress, on_end, &g);
	SUPPORT_WAIT_FOR(f->base, g.progress >= 1, 5000);
	pve_task_follow_cancel(fl);
	support_run_for(f->base, 200);
	assert_false(g.ended);
	assert_int_equal(g.progress, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_action_names),
	        cmocka_unit_test(test_upid_token),
	        cmocka_unit_test(test_upid_forms),
	        cmocka_unit_test(test_upid_bad),
	        cmocka_unit_test(test_started),
	        cmocka_unit_test(test_status_running),
	        cmocka_unit_test(test_status_stopped),
	        cmocka_unit_test(test_log),
	        cmocka_unit_test(test_find_guest),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test_setup_teardown(test_client_start_and_follow, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_failed_task_log, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_refused_not_retried, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_follow_cancel, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
