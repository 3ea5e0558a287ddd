/* argocd.h: the Argo CD client (REST /api/v1, Bearer token): applications with sync, health,
 * revision and last operation; sync (never retried: ArgoCD refuses a second one rather than
 * queueing it); following operationState; terminating an operation. The parsers are pure and
 * unit-tested on real answers. */
#ifndef LABDECK_ARGOCD_H
#define LABDECK_ARGOCD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "http.h"

struct argocd;

/* One application as `deploy list` shows it. Strings are NULL when absent. */
struct argocd_app {
	char *name;
	char *sync;       /* Synced | OutOfSync | Unknown */
	char *health;     /* Healthy | Progressing | Degraded | Suspended | Missing | Unknown */
	char *revision;   /* status.sync.revision */
	char *parent;     /* label app.kubernetes.io/instance: the app-of-apps it belongs to */
	char *phase;      /* status.operationState.phase: Running | Terminating | Succeeded... */
	char *op_message; /* status.operationState.message */
	char *op_started; /* status.operationState.startedAt */
	char *op_finished;
};

struct argocd_app_list {
	struct argocd_app *items;
	size_t len;
};

void argocd_app_finish(struct argocd_app *a);
void argocd_app_list_finish(struct argocd_app_list *l);

/* argocd_parse_app reads one Application (GET /api/v1/applications/{name}, the sync answer).
 * False with ERR_MALFORMED when it is not one. */
bool argocd_parse_app(const char *body, size_t len, struct argocd_app *out, struct err *err);

/* argocd_parse_list reads an ApplicationList ({"items":[...]}; null items is an empty list). */
bool argocd_parse_list(const char *body, size_t len, struct argocd_app_list *out, struct err *err);

/* argocd_error_text returns the "message" (else "error") of an Argo CD error body
 * {"error","code","message"}, or NULL. Heap. */
char *argocd_error_text(const char *body, size_t len);

/* argocd_sync_body builds the sync request body: {"prune":..,"dryRun":..} plus "revision" when
 * revision is not NULL. Heap. */
char *argocd_sync_body(const char *revision, bool prune, bool dry_run);

/* Where a followed operation stands. */
enum argocd_op_state {
	ARGOCD_OP_PENDING,   /* not yet ours: no operationState, or the one of before */
	ARGOCD_OP_RUNNING,   /* Running or Terminating */
	ARGOCD_OP_SUCCEEDED, /* Succeeded */
	ARGOCD_OP_FAILED,    /* Failed or Error */
};

/* argocd_op_state_of tells where the operation started at or after `since` (RFC 3339, may be
 * NULL: any) stands in app. An operation that ended and started before since is the previous
 * one (the answer right after a sync still shows it): PENDING. */
enum argocd_op_state argocd_op_state_of(const struct argocd_app *app, const char *since);

/* argocd_is_busy: err is ArgoCD's 400 "another operation is already in progress". */
bool argocd_is_busy(const struct err *err);

/* argocd_error_from_response turns a failed answer into a message a person can act on. what
 * names the call ("sync frontend"). 403 says that ArgoCD answers it for an unknown app too. */
void argocd_error_from_response(struct err *out, const struct http_response *resp,
                                const struct err *err, const char *what);

/* Called once per call: on success err is NULL and body/len the answer; on failure err is
 * already turned into a readable message (argocd_error_from_response). */
typedef void (*argocd_done_fn)(void *ud, const char *body, size_t len, const struct err *err);

/* argocd_create keeps a pointer to cfg (it must outlive the client). */
struct argocd *argocd_create(struct http *h, const struct config_argocd *cfg);
/* argocd_destroy cancels the calls still running (no callbacks). NULL-safe. */
void argocd_destroy(struct argocd *a);
/* argocd_cancel stops a call started by a (its done is not called). NULL-safe; a handle already
 * finished is ignored. */
void argocd_cancel(struct argocd *a, struct http_request *req);

/* argocd_list starts GET /api/v1/applications. Returns the handle (for http_cancel). */
struct http_request *argocd_list(struct argocd *a, argocd_done_fn done, void *ud);
/* argocd_get starts GET /api/v1/applications/{name}. */
struct http_request *argocd_get(struct argocd *a, const char *name, argocd_done_fn done, void *ud);
/* argocd_sync starts POST /api/v1/applications/{name}/sync, never retried. */
struct http_request *argocd_sync(struct argocd *a, const char *name, const char *revision,
                                 bool prune, bool dry_run, argocd_done_fn done, void *ud);
/* argocd_terminate starts DELETE /api/v1/applications/{name}/operation, never retried. */
struct http_request *argocd_terminate(struct argocd *a, const char *name, argocd_done_fn done,
                                      void *ud);

#endif
