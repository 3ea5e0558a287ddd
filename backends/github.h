/* github.h: the GitHub Actions client (REST, Bearer token): the workflows of [github] repo,
 * workflow_dispatch (never retried), finding the run a dispatch created (from the answer's run
 * details when the server gives them, else among runs created after the dispatch), the run with
 * its jobs and steps. Rate limits: an answer with Retry-After (429, or the secondary-limit 403)
 * is waited out and, for a GET, asked again. The parsers are pure and unit-tested on real
 * answers. */
#ifndef LABDECK_GITHUB_H
#define LABDECK_GITHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "http.h"

struct github;
struct event_base;

struct github_workflow {
	int64_t id;
	char *name, *path, *state; /* path ".github/workflows/x.yml", state "active"... */
};

struct github_workflow_list {
	struct github_workflow *items;
	size_t len;
};

struct github_run {
	int64_t id, workflow_id;
	char *name, *status, *conclusion, *head_branch, *event, *path, *html_url, *created_at;
	double created; /* epoch seconds of created_at, 0 when absent */
};

struct github_run_list {
	struct github_run *items;
	size_t len;
};

struct github_step {
	char *name, *status, *conclusion;
	int number;
};

struct github_job {
	int64_t id;
	char *name, *status, *conclusion;
	struct github_step *steps;
	size_t n_steps;
};

struct github_job_list {
	struct github_job *items;
	size_t len;
};

void github_workflow_list_finish(struct github_workflow_list *l);
void github_run_finish(struct github_run *r);
void github_run_list_finish(struct github_run_list *l);
void github_job_list_finish(struct github_job_list *l);

/* github_parse_workflows reads {"total_count","workflows":[...]}. */
bool github_parse_workflows(const char *body, size_t len, struct github_workflow_list *out,
                            struct err *err);
/* github_parse_run reads one workflow run. */
bool github_parse_run(const char *body, size_t len, struct github_run *out, struct err *err);
/* github_parse_runs reads {"total_count","workflow_runs":[...]}. */
bool github_parse_runs(const char *body, size_t len, struct github_run_list *out, struct err *err);
/* github_parse_jobs reads {"total_count","jobs":[{..., "steps":[...]}]}. */
bool github_parse_jobs(const char *body, size_t len, struct github_job_list *out, struct err *err);
/* github_parse_dispatch reads a dispatch answer: *run_id is the workflow_run_id of a 200 with
 * run details, 0 for the empty 204. False only for a body that is there but not such JSON. */
bool github_parse_dispatch(const char *body, size_t len, int64_t *run_id, struct err *err);

/* github_error_text returns the "message" of a GitHub error body, or NULL. Heap. */
char *github_error_text(const char *body, size_t len);

/* github_dispatch_body builds {"ref":REF,"inputs":{K:V...},"return_run_details":true}; keys and
 * values are n strings each. Heap. */
char *github_dispatch_body(const char *ref, const char *const *keys, const char *const *values,
                           size_t n);

/* What a "run with inputs" line asks for: the ref and the workflow_dispatch inputs. */
struct github_run_request {
	char *ref;
	char **keys, **values;
	size_t n;
};

/* github_parse_run_line reads the line the console asks for before a dispatch, in the CLI's own
 * words: "--ref R" (or --ref=R) and inputs as KEY=VALUE (an "--input" before one is allowed), split
 * as a shell splits words ('...' and "..." quote, \ escapes). out->ref is default_ref unless the
 * line names one; a key given twice keeps its last value. False with err (ERR_USAGE) saying which
 * word is wrong. Free out with github_run_request_finish either way. */
bool github_parse_run_line(const char *line, const char *default_ref,
                           struct github_run_request *out, struct err *err);
void github_run_request_finish(struct github_run_request *r);

/* github_pick_run chooses, among runs (any order), the run a dispatch of workflow (file name,
 * ".github/workflows/" path, or numeric id as text) on ref made at `since` (epoch seconds, the
 * time of the POST): the oldest workflow_dispatch run on that ref created at or after since
 * (GitHub's created_at has whole seconds: since is rounded down) whose id is not in skip (ids
 * already known, n_skip of them). Returns its index or -1. */
long github_pick_run(const struct github_run_list *runs, const char *workflow, const char *ref,
                     double since, const int64_t *skip, size_t n_skip);

/* github_run_done: status "completed". github_run_ok: completed with conclusion success (or
 * neutral/skipped). */
bool github_run_done(const struct github_run *r);
bool github_run_ok(const struct github_run *r);

/* github_is_rate_limited: a 403/429 answer that is a rate limit (primary or secondary). */
bool github_is_rate_limited(long status, const char *message);

/* github_error_from_response turns a failed answer into a message a person can act on; what
 * names the call. The 422 of a dispatch is explained (the file is often not on that ref). */
void github_error_from_response(struct err *out, const struct http_response *resp,
                                const struct err *err, const char *what, const char *ref);

/* Called once per call: on success err is NULL and body/len the answer (len 0 for a 204). */
typedef void (*github_done_fn)(void *ud, const char *body, size_t len, const struct err *err);

/* github_create keeps pointers to cfg and base (they must outlive the client). */
struct github *github_create(struct http *h, struct event_base *base,
                             const struct config_github *cfg);
/* github_destroy cancels what is still running (no callbacks). */
void github_destroy(struct github *g);

/* github_get starts GET {url}/repos/{repo}{path} (path begins with '/' and is escaped). A
 * rate-limit answer with Retry-After (at most 60 s) is waited out and asked again. */
void github_get(struct github *g, const char *path, github_done_fn done, void *ud);
/* github_dispatch starts POST .../actions/workflows/{workflow}/dispatches with body (see
 * github_dispatch_body), never retried. */
void github_dispatch(struct github *g, const char *workflow, const char *ref, const char *body,
                     github_done_fn done, void *ud);
/* github_pending counts calls not yet finished (including waits). */
int github_pending(const struct github *g);

#endif
