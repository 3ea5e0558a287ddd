/* test_action_log.c: the record of changing actions the console's action log view and status
 * line show: an action's life (started, its state changes, its end and times), the bound on
 * entries and on each entry's history, and the listeners that hear of changes and of the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "action_log.h"

static int64_t fake_now;

static int64_t clock_fn(void *ud)
{
	(void)ud;
	return fake_now;
}

static struct action_log *new_log(size_t cap)
{
	struct action_log *log = action_log_new(cap);
	action_log_set_clock(log, clock_fn, NULL);
	fake_now = 1000;
	return log;
}

static void test_life_of_an_action(void **state)
{
	(void)state;
	struct action_log *log = new_log(0);
	unsigned long id = action_log_begin(log, "stop guest", "101 (web) on pve-a");
	const struct action_entry *e = action_log_find(log, id);
	assert_non_null(e);
	assert_string_equal(e->what, "stop guest");
	assert_string_equal(e->target, "101 (web) on pve-a");
	assert_string_equal(e->state, "started");
	assert_int_equal(e->phase, ACTION_RUNNING);
	assert_int_equal(e->started_ms, 1000);
	assert_int_equal(e->ended_ms, 0);
	assert_int_equal(action_log_running(log), 1);

	fake_now = 2000;
	assert_true(action_log_update(log, id, "running", ACTION_RUNNING, "UPID:pve-a:1"));
	/* The same state again (a poll that saw no change) is not a new history step. */
	fake_now = 3000;
	assert_true(action_log_update(log, id, "running", ACTION_RUNNING, NULL));
	assert_int_equal(e->n_history, 2);
	assert_int_equal(e->updated_ms, 3000);
	assert_string_equal(e->detail, "UPID:pve-a:1"); /* NULL kept it */

	fake_now = 4500;
	assert_true(action_log_update(log, id, "OK", ACTION_DONE, NULL));
	assert_int_equal(e->phase, ACTION_DONE);
	assert_int_equal(e->ended_ms, 4500);
	assert_int_equal(action_log_running(log), 0);
	assert_int_equal(e->n_history, 3);
	assert_string_equal(e->history[0].state, "started");
	assert_string_equal(e->history[1].state, "running");
	assert_int_equal(e->history[1].at_ms, 2000);
	assert_string_equal(e->history[2].state, "OK");
	assert_int_equal(e->history[2].phase, ACTION_DONE);

	/* An ended action stays as it ended. */
	fake_now = 9000;
	assert_false(action_log_update(log, id, "running", ACTION_RUNNING, NULL));
	assert_string_equal(e->state, "OK");
	assert_int_equal(e->ended_ms, 4500);
	assert_false(action_log_update(log, 999, "x", ACTION_DONE, NULL));
	action_log_free(log);
}

static void test_phase_names(void **state)
{
	(void)state;
	assert_string_equal(action_phase_name(ACTION_RUNNING), "running");
	assert_string_equal(action_phase_name(ACTION_DONE), "done");
	assert_string_equal(action_phase_name(ACTION_FAILED), "failed");
	assert_string_equal(action_phase_name(ACTION_CANCELLED), "cancelled");
	assert_false(action_phase_ended(ACTION_RUNNING));
	assert_true(action_phase_ended(ACTION_FAILED));
	assert_true(action_phase_ended(ACTION_CANCELLED));
}

static void test_history_keeps_the_last_changes(void **state)
{
	(void)state;
	struct action_log *log = new_log(0);
	unsigned long id = action_log_begin(log, "deploy sync", "root-app");
	char s[32];
	for (int i = 1; i <= 40; i++) {
		snprintf(s, sizeof(s), "step %d", i);
		fake_now += 10;
		action_log_update(log, id, s, ACTION_RUNNING, NULL);
	}
	action_log_update(log, id, "Failed", ACTION_FAILED, "sync failed: hook");
	const struct action_entry *e = action_log_find(log, id);
	assert_int_equal(e->n_history, ACTION_LOG_HISTORY);
	/* Oldest first, the newest last: the end is never lost. */
	assert_string_equal(e->history[ACTION_LOG_HISTORY - 1].state, "Failed");
	snprintf(s, sizeof(s), "step %d", 40 - (ACTION_LOG_HISTORY - 2));
	assert_string_equal(e->history[0].state, s);
	for (size_t i = 1; i < e->n_history; i++) {
		assert_true(e->history[i].at_ms >= e->history[i - 1].at_ms);
	}
	assert_string_equal(e->detail, "sync failed: hook");
	action_log_free(log);
}

static void test_bounded_drops_ended_first(void **state)
{
	(void)state;
	struct action_log *log = new_log(3);
	unsigned long a = action_log_begin(log, "start guest", "101");
	unsigned long b = action_log_begin(log, "stop guest", "102");
	unsigned long c = action_log_begin(log, "reboot guest", "103");
	action_log_update(log, b, "OK", ACTION_DONE, NULL);
	/* Full: the running a is older, but b has ended: b goes. */
	unsigned long d = action_log_begin(log, "deploy sync", "root-app");
	assert_int_equal(action_log_count(log), 3);
	assert_null(action_log_find(log, b));
	assert_non_null(action_log_find(log, a));
	assert_int_equal(action_log_at(log, 0)->id, a);
	assert_int_equal(action_log_at(log, 1)->id, c);
	assert_int_equal(action_log_at(log, 2)->id, d);
	assert_null(action_log_at(log, 3));
	/* None ended: the oldest goes. */
	unsigned long e = action_log_begin(log, "jobs trigger", "etl");
	assert_null(action_log_find(log, a));
	assert_false(action_log_update(log, a, "OK", ACTION_DONE, NULL));
	assert_int_equal(action_log_at(log, 0)->id, c);
	assert_int_equal(action_log_at(log, 2)->id, e);
	assert_true(e > d && d > c); /* ids never reused */
	/* Many more than the bound. */
	for (int i = 0; i < 1000; i++) {
		unsigned long x = action_log_begin(log, "session delete", "s");
		action_log_update(log, x, "deleted", ACTION_DONE, NULL);
	}
	assert_int_equal(action_log_count(log), 3);
	action_log_free(log);
}

struct heard {
	int calls, ends;
	unsigned long last_id;
	char last_state[32];
	enum action_phase last_phase;
};

static void on_change(void *ud, const struct action_entry *e, bool ended)
{
	struct heard *h = ud;
	h->calls++;
	h->ends += ended;
	h->last_id = e->id;
	h->last_phase = e->phase;
	snprintf(h->last_state, sizeof(h->last_state), "%s", e->state);
}

static void test_listeners(void **state)
{
	(void)state;
	struct action_log *log = new_log(0);
	struct heard h1 = {0}, h2 = {0};
	int l1 = action_log_listen(log, on_change, &h1);
	int l2 = action_log_listen(log, on_change, &h2);
	assert_true(l1 > 0 && l2 > 0 && l1 != l2);
	unsigned long id = action_log_begin(log, "deploy sync", "gateway");
	assert_int_equal(h1.calls, 1);
	assert_int_equal(h1.ends, 0);
	assert_int_equal(h1.last_id, id);
	action_log_update(log, id, "Running", ACTION_RUNNING, NULL);
	action_log_unlisten(log, l2);
	action_log_update(log, id, "Succeeded", ACTION_DONE, NULL);
	assert_int_equal(h1.calls, 3);
	assert_int_equal(h1.ends, 1);
	assert_string_equal(h1.last_state, "Succeeded");
	assert_int_equal(h1.last_phase, ACTION_DONE);
	assert_int_equal(h2.calls, 2);
	assert_int_equal(h2.ends, 0);
	/* After the end nothing more is announced. */
	action_log_update(log, id, "Running", ACTION_RUNNING, NULL);
	assert_int_equal(h1.calls, 3);
	/* A freed slot is reused with a new handle. */
	int l3 = action_log_listen(log, on_change, &h2);
	assert_true(l3 != l2);
	action_log_unlisten(log, l2); /* stale: no effect */
	action_log_begin(log, "x", "y");
	assert_int_equal(h2.calls, 3);
	action_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_life_of_an_action),
	        cmocka_unit_test(test_phase_names),
	        cmocka_unit_test(test_history_keeps_the_last_changes),
	        cmocka_unit_test(test_bounded_drops_ended_first),
	        cmocka_unit_test(test_listeners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
