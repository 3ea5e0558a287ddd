/* pve_task.h: Proxmox guest power actions and the worker task each one starts. An action is
 * POST /nodes/{node}/{qemu|lxc}/{vmid}/status/{start|shutdown|stop|reboot}; the answer is the
 * task's UPID, and only the task's end (GET /nodes/{node}/tasks/{upid}/status, exitstatus "OK")
 * says whether it worked. The POST is never retried. */
#ifndef LABDECK_PVE_TASK_H
#define LABDECK_PVE_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "model.h"

struct event_base;

enum pve_action {
	PVE_ACTION_START,
	PVE_ACTION_SHUTDOWN,
	PVE_ACTION_STOP,
	PVE_ACTION_REBOOT,
};

/* pve_action_parse: "start", "shutdown", "stop" or "reboot" into *out; false for anything else. */
bool pve_action_parse(const char *name, enum pve_action *out);
/* pve_action_name: the word PVE uses in the path ("shutdown"). */
const char *pve_action_name(enum pve_action a);

/* A decoded UPID: UPID:node:PID:PSTART:STARTTIME:type:id:user: (hex numbers). */
struct pve_upid {
	char *node;
	uint32_t pid;
	uint64_t pstart;
	int64_t starttime; /* epoch seconds */
	char *type;        /* qmstart, vzshutdown, ... */
	char *id;          /* the vmid, may be empty */
	char *user;        /* root@pam, or root@pam!tokenid for a token's task */
};

/* pve_upid_parse decodes s; the trailing ':' is optional (PVE 7 LXC answers lack it). On failure
 * err says what is wrong and *out is left empty. */
bool pve_upid_parse(const char *s, struct pve_upid *out, struct err *err);
void pve_upid_finish(struct pve_upid *u);

/* What GET /nodes/{node}/tasks/{upid}/status says. */
struct pve_task_status {
	bool running;     /* status "running"; else "stopped" */
	char *exitstatus; /* when stopped: "OK", "WARNINGS: n" or the error text; else NULL */
	char *type;
	char *id;
	char *node;
	char *upid;
	int64_t starttime; /* -1 when absent */
	int64_t endtime;   /* -1 when absent */
};

/* pve_task_parse_status parses a task status answer ({"data":{...}}). */
bool pve_task_parse_status(const char *body, size_t len, struct pve_task_status *out,
                           struct err *err);
void pve_task_status_finish(struct pve_task_status *st);
/* pve_task_succeeded: stopped with "OK" or "WARNINGS: n" (PVE counts warnings as done). */
bool pve_task_succeeded(const struct pve_task_status *st);

/* A page of a task log. */
struct pve_task_log {
	char **lines; /* text of each line, in order */
	size_t len;
	int64_t total; /* "total" when the server sends it, else -1 */
};

/* pve_task_parse_log parses GET .../tasks/{upid}/log ({"data":[{"n":1,"t":"..."}]}). */
bool pve_task_parse_log(const char *body, size_t len, struct pve_task_log *out, struct err *err);
void pve_task_log_finish(struct pve_task_log *log);

/* pve_task_parse_started parses a power action's answer {"data":"UPID:..."} into a new string
 * (the UPID, checked with pve_upid_parse). */
bool pve_task_parse_started(const char *body, size_t len, char **upid, struct err *err);

/* pve_task_find_guest looks vmid up in a /cluster/resources answer (pve_parse_cluster_resources
 * rows). Returns the row or NULL. */
const struct guest_row *pve_task_find_guest(const struct guest_list *guests, int vmid);

/* pve_task_error turns a failed answer to an action, task status or log call into a message a
 * person can act on. what names the call ("stop guest 101"). PVE answers its refusals ("VM 101
 * not running", "CT 110 already running", "Configuration file ... does not exist") with HTTP 500
 * and the reason in the message: those are ERR_REJECTED (exit 1) with the message as PVE says
 * it; 403 names the privilege (VM.PowerMgmt); 401, 595/596 and transport failures as for every
 * Proxmox call. */
void pve_task_error(struct err *out, const struct http_response *resp, const struct err *err,
                    const char *what);

/* --- the asynchronous client --- */

struct pve_task_client;
struct pve_task_follow;

/* pve_task_client_create keeps pointers to cfg and h (they must outlive the client); base runs the
 * follow timers. */
struct pve_task_client *pve_task_client_create(struct event_base *base, struct http *h,
                                               const struct config_proxmox *cfg);
/* pve_task_client_destroy: NULL-safe; follows still running must have been cancelled. */
void pve_task_client_destroy(struct pve_task_client *tc);

/* Called once with the guest (NULL with err set when it is not found or the call failed). The
 * row is valid during the callback only. */
typedef void (*pve_task_guest_fn)(void *ud, const struct guest_row *guest, const struct err *err);
/* pve_task_locate finds a guest's node and type: GET /cluster/resources?type=vm. */
struct http_request *pve_task_locate(struct pve_task_client *tc, int vmid, pve_task_guest_fn cb,
                                     void *ud);

/* Called once with the new task's UPID, or NULL and err. */
typedef void (*pve_task_started_fn)(void *ud, const char *upid, const struct err *err);
/* pve_task_start POSTs the action (once: never retried) for guest vmid of type ("qemu"/"lxc") on
 * node. */
struct http_request *pve_task_start(struct pve_task_client *tc, const char *node, const char *type,
                                    int vmid, enum pve_action action, pve_task_started_fn cb,
                                    void *ud);

/* Follow callbacks. progress runs after each status read (st valid during the call). end runs
 * once: with the last status (stopped), and for a task that did not succeed the log's last lines
 * (log may be NULL when the log could not be read); or with st NULL and err when following
 * failed (the task may still be running). */
typedef void (*pve_task_progress_fn)(void *ud, const struct pve_task_status *st);
typedef void (*pve_task_end_fn)(void *ud, const struct pve_task_status *st,
                                const struct pve_task_log *log, const struct err *err);

/* pve_task_follow reads the task's status every interval_ms (the node comes from the UPID) until
 * it has stopped; on failure it then reads the log (its last log_lines lines). */
struct pve_task_follow *pve_task_follow(struct pve_task_client *tc, const char *upid,
                                        long interval_ms, size_t log_lines,
                                        pve_task_progress_fn progress, pve_task_end_fn end,
                                        void *ud);
/* pve_task_follow_cancel stops following (not the task); no callback runs after it. NULL-safe. */
void pve_task_follow_cancel(struct pve_task_follow *f);

#endif
