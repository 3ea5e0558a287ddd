/* airflow.h: the Airflow REST client, for Airflow 2 (/api/v1, basic auth) and Airflow 3 (/api/v2,
 * a JWT from POST /auth/token, "logical_date" required in a trigger body).
 *
 * Which one is there is found out on the first call, without configuration: GET /api/v2/version
 * first, then, when that is not a 2xx, GET /api/v1/version. Both need no credentials. /api/v2 goes
 * first because Airflow 3 answers /api/v1 with 404 and Airflow 2 answers /api/v2 with 404, so
 * either order takes at most two probes, and the newer API (the one that will stay) then costs
 * one. The version's major number must agree (3 on /api/v2, 2 on /api/v1).
 *
 * On Airflow 3 the token is fetched before the first call and fetched again once when a call is
 * answered 401 (it expired); the call is then sent again. That resend is safe for a POST too: a
 * 401 means the server refused it before doing anything. No other request is ever resent. */
#ifndef LABDECK_AIRFLOW_H
#define LABDECK_AIRFLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"

struct event_base;
struct http;
struct airflow;
struct airflow_op;

enum airflow_api {
	AIRFLOW_API_UNKNOWN,
	AIRFLOW_API_V1, /* Airflow 2 */
	AIRFLOW_API_V2, /* Airflow 3 */
};

struct airflow_dag {
	char *dag_id;
	bool paused;
	char *last_run_state; /* state of the latest run, NULL when it never ran */
	char *last_run_id;    /* the latest run's dag_run_id, NULL when it never ran */
	char *last_run_start; /* its start_date (or queued_at, logical_date) as sent, or NULL */
};

struct airflow_dags {
	struct airflow_dag *items;
	size_t len;
};

struct airflow_run {
	char *dag_id, *run_id, *state;
};

struct airflow_task {
	char *task_id;
	char *state; /* NULL: not scheduled yet */
};

struct airflow_tasks {
	struct airflow_task *items;
	size_t len;
};

/* --- what the answers say (pure functions) --- */

/* airflow_parse_version reads {"version":"2.10.5",...} into *major. */
bool airflow_parse_version(const char *body, size_t len, int *major, struct err *err);
/* airflow_parse_token reads POST /auth/token's {"access_token":...}; *token is allocated. */
bool airflow_parse_token(const char *body, size_t len, char **token, struct err *err);
/* airflow_parse_dags reads {"dags":[...],"total_entries"} (last_run_state left NULL). */
bool airflow_parse_dags(const char *body, size_t len, struct airflow_dags *out, struct err *err);
void airflow_dags_finish(struct airflow_dags *d);
/* airflow_parse_dag reads one DAG object (last_run_state left NULL). */
bool airflow_parse_dag(const char *body, size_t len, struct airflow_dag *out, struct err *err);
void airflow_dag_finish(struct airflow_dag *d);
/* airflow_parse_last_state reads {"dag_runs":[...]} and gives the first run's state (the list is
 * asked newest first), or NULL when there is none. */
bool airflow_parse_last_state(const char *body, size_t len, char **state, struct err *err);
/* airflow_parse_last_run reads {"dag_runs":[...]} like airflow_parse_last_state and also gives
 * the first run's dag_run_id and start_date (queued_at, then logical_date while it has not
 * started); all three NULL when there is none. */
bool airflow_parse_last_run(const char *body, size_t len, char **state, char **run_id, char **start,
                            struct err *err);
/* airflow_parse_run reads one DAG run object. */
bool airflow_parse_run(const char *body, size_t len, struct airflow_run *out, struct err *err);
void airflow_run_finish(struct airflow_run *r);
/* airflow_parse_tasks reads {"task_instances":[...]}. */
bool airflow_parse_tasks(const char *body, size_t len, struct airflow_tasks *out, struct err *err);
void airflow_tasks_finish(struct airflow_tasks *t);
/* airflow_error_detail puts what an error body says into out: Airflow 2's problem+json "detail"
 * (or "title"), Airflow 3's {"detail": "..."}, its validation list ({"detail":[{loc,msg}]} as
 * "body.logical_date: Field required"), or its object form ({"detail":{"message":...}}). Empty
 * when the body says nothing usable (an HTML page). */
void airflow_error_detail(const char *body, size_t len, char *out, size_t out_size);
/* airflow_run_state_done: whether a run state is final (success or failed). */
bool airflow_run_state_done(const char *state);
/* airflow_trigger_body builds the POST .../dagRuns body: {"conf": CONF} and, for the /api/v2 API,
 * "logical_date": null (now). conf_json NULL means {}; it must be a JSON object, else NULL with
 * err (ERR_USAGE) set. */
char *airflow_trigger_body(enum airflow_api api, const char *conf_json, struct err *err);
/* airflow_basic_header: "Authorization: Basic BASE64(user:password)". */
char *airflow_basic_header(const char *user, const char *password);

/* --- the client --- */

typedef void (*airflow_dags_fn)(void *ud, struct airflow_dags *d, const struct err *err);
typedef void (*airflow_run_fn)(void *ud, const struct airflow_run *r, const struct err *err);
typedef void (*airflow_dag_fn)(void *ud, const struct airflow_dag *d, const struct err *err);
typedef void (*airflow_tasks_fn)(void *ud, const struct airflow_tasks *t, const struct err *err);

/* airflow_create keeps a pointer to cfg ([airflow] url, username, password, TLS keys). */
struct airflow *airflow_create(struct event_base *base, struct http *h,
                               const struct config_airflow *cfg);
/* airflow_destroy cancels what is running (no callbacks). NULL-safe. */
void airflow_destroy(struct airflow *a);
/* airflow_api_in_use: the API found by the first call (AIRFLOW_API_UNKNOWN before). */
enum airflow_api airflow_api_in_use(const struct airflow *a);

/* airflow_list_dags lists the DAGs, then each one's latest run (newest start first). */
void airflow_list_dags(struct airflow *a, airflow_dags_fn cb, void *ud);
/* airflow_get_dag reads one DAG (paused or not). */
void airflow_get_dag(struct airflow *a, const char *dag_id, airflow_dag_fn cb, void *ud);
/* airflow_trigger creates a DAG run with conf (a JSON object text, NULL for {}); never resent
 * except after a 401 (see above). */
void airflow_trigger(struct airflow *a, const char *dag_id, const char *conf_json,
                     airflow_run_fn cb, void *ud);
/* airflow_set_paused pauses or unpauses a DAG (PATCH is_paused); the callback gets the DAG. */
void airflow_set_paused(struct airflow *a, const char *dag_id, bool paused, airflow_dag_fn cb,
                        void *ud);
/* airflow_get_run reads one run (one poll of a follow). */
void airflow_get_run(struct airflow *a, const char *dag_id, const char *run_id, airflow_run_fn cb,
                     void *ud);
/* airflow_get_tasks reads a run's task instances. */
void airflow_get_tasks(struct airflow *a, const char *dag_id, const char *run_id,
                       airflow_tasks_fn cb, void *ud);

#endif
