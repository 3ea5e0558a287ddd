/* test_resolve.c: backends/resolve.c on a real libevent loop. Numeric addresses and "localhost"
 * are answered without DNS, always from the loop and never inside resolve_start; a name in
 * /etc/hosts comes back through evdns; a name that does not resolve fails naming it; a cancelled
 * lookup never calls back, whether its answer was still to come from evdns or already stored,
 * and leaves nothing behind (the ASan build checks for leaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <event2/event.h>

#include "resolve.h"
#include "support.h"

struct got {
	int calls;
	bool ok;
	char ip[64];
	struct err err;
};

static void on_answer(void *ud, const char *ip, const struct err *err)
{
	struct got *g = ud;
	g->calls++;
	g->ok = ip != NULL;
	if (ip) {
		assert_null(err);
		snprintf(g->ip, sizeof(g->ip), "%s", ip);
	} else {
		assert_non_null(err);
		g->err = *err;
	}
}

/* lookup resolves host and waits (at most ms) for the one answer. */
static void lookup(struct event_base *base, const char *host, struct got *g, int ms)
{
	memset(g, 0, sizeof(*g));
	struct resolve_lookup *lk = resolve_start(base, host, on_answer, g);
	assert_non_null(lk);
	assert_int_equal(g->calls, 0); /* never from inside resolve_start */
	SUPPORT_WAIT_FOR(base, g->calls > 0, ms);
	support_run_for(base, 50);
	assert_int_equal(g->calls, 1);
}

static void test_numeric(void **state)
{
	(void)state;
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	struct got g;
	const char *const hosts[] = {"10.1.2.3", "127.0.0.1", "::1", "fd00::5", "2001:db8::1"};
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		assert_true(resolve_is_numeric(hosts[i]));
		lookup(base, hosts[i], &g, 1000);
		assert_true(g.ok);
		assert_string_equal(g.ip, hosts[i]);
	}
	const char *const names[] = {"localhost", "redis.lab", "10.1.2", "::g", "", "[::1]"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (resolve_is_numeric(names[i])) {
			fail_msg("\"%s\" taken for an address", names[i]);
		}
	}
	support_base_free(base, tick);
}

static void test_localhost(void **state)
{
	(void)state;
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	struct got g;
	const char *const names[] = {"localhost", "LocalHost", "localhost."};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		lookup(base, names[i], &g, 1000);
		assert_true(g.ok);
		assert_string_equal(g.ip, "127.0.0.1");
	}
	support_base_free(base, tick);
}

/* hosts_name finds a name other than localhost that /etc/hosts maps to an IPv4 address. */
static bool hosts_name(char *name, size_t name_n, char *ip, size_t ip_n)
{
	FILE *f = fopen("/etc/hosts", "r");
	if (!f) {
		return false;
	}
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *hash = strchr(line, '#');
		if (hash) {
			*hash = '\0';
		}
		char *save = NULL;
		char *addr = strtok_r(line, " \t\r\n", &save);
		unsigned char buf[4];
		if (!addr || inet_pton(AF_INET, addr, buf) != 1) {
			continue;
		}
		for (char *n = strtok_r(NULL, " \t\r\n", &save); n;
		     n = strtok_r(NULL, " \t\r\n", &save)) {
			if (strcasecmp(n, "localhost") != 0 && strlen(n) < name_n &&
			    strlen(addr) < ip_n) {
				snprintf(name, name_n, "%s", n);
				snprintf(ip, ip_n, "%s", addr);
				found = true;
				break;
			}
		}
	}
	fclose(f);
	return found;
}

static void test_hosts_file(void **state)
{
	(void)state;
	char name[256], want[64];
	if (!hosts_name(name, sizeof(name), want, sizeof(want))) {
		skip();
	}
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	struct got g;
	lookup(base, name, &g, 10000);
	if (!g.ok) {
		fail_msg("%s (in /etc/hosts as %s): %s", name, want, g.err.msg);
	}
	/* The first IPv4 address evdns knows for it; /etc/hosts may list the name more than once.
	 */
	unsigned char buf[4];
	assert_int_equal(inet_pton(AF_INET, g.ip, buf), 1);
	support_base_free(base, tick);
}

static void test_no_such_name(void **state)
{
	(void)state;
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	struct got g;
	/* .invalid never resolves (RFC 6761); without a nameserver evdns times out: still an error.
	 */
	lookup(base, "no-such-host.invalid", &g, 60000);
	assert_false(g.ok);
	assert_int_equal(g.err.code, ERR_UNREACHABLE);
	if (strncmp(g.err.msg, "cannot resolve no-such-host.invalid: ", 37) != 0) {
		fail_msg("message: %s", g.err.msg);
	}
	assert_true(strlen(g.err.msg) > 37); /* and why */
	support_base_free(base, tick);
}

static void test_cancel(void **state)
{
	(void)state;
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	struct got g;
	memset(&g, 0, sizeof(g));

	/* Answers that need no DNS, cancelled before the loop delivers them. */
	resolve_cancel(resolve_start(base, "10.0.0.1", on_answer, &g));
	resolve_cancel(resolve_start(base, "::1", on_answer, &g));
	resolve_cancel(resolve_start(base, "localhost", on_answer, &g));
	/* A lookup evdns still holds (it asks a nameserver), cancelled at once and after a turn. */
	resolve_cancel(resolve_start(base, "cancelled-at-once.invalid", on_answer, &g));
	struct got g_later;
	memset(&g_later, 0, sizeof(g_later));
	struct resolve_lookup *later =
	        resolve_start(base, "cancelled-later.invalid", on_answer, &g_later);
	event_base_loop(base, EVLOOP_NONBLOCK);
	bool later_cancelled = g_later.calls == 0; /* not answered within one turn */
	if (later_cancelled) {
		resolve_cancel(later);
	}
	/* An answer evdns gave at once (a name in /etc/hosts), stored and not yet delivered. */
	char name[256], ip[64];
	if (hosts_name(name, sizeof(name), ip, sizeof(ip))) {
		resolve_cancel(resolve_start(base, name, on_answer, &g));
	}
	resolve_cancel(NULL);
	support_run_for(base, 300);
	assert_int_equal(g.calls, 0);
	if (later_cancelled) {
		assert_int_equal(g_later.calls, 0);
	}

	/* A lookup that is not cancelled still answers, next to the cancelled ones. */
	lookup(base, "10.9.8.7", &g, 1000);
	assert_string_equal(g.ip, "10.9.8.7");
	support_base_free(base, tick);
}

struct chain {
	struct event_base *base;
	int calls;
	char last[64];
};

/* The callback may start the next lookup: the finished one is already gone. */
static void on_chain(void *ud, const char *ip, const struct err *err)
{
	struct chain *c = ud;
	assert_non_null(ip);
	(void)err;
	snprintf(c->last, sizeof(c->last), "%s", ip);
	if (++c->calls < 3) {
		char next[32];
		snprintf(next, sizeof(next), "10.0.0.%d", c->calls + 1);
		resolve_start(c->base, next, on_chain, c);
	}
}

static void test_lookup_from_callback(void **state)
{
	(void)state;
	struct event *tick;
	struct chain c = {0};
	c.base = support_base_new(&tick);
	resolve_start(c.base, "10.0.0.1", on_chain, &c);
	SUPPORT_WAIT_FOR(c.base, c.calls == 3, 1000);
	assert_string_equal(c.last, "10.0.0.3");
	support_base_free(c.base, tick);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_numeric),    cmocka_unit_test(test_localhost),
	        cmocka_unit_test(test_hosts_file), cmocka_unit_test(test_no_such_name),
	        cmocka_unit_test(test_cancel),     cmocka_unit_test(test_lookup_from_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
