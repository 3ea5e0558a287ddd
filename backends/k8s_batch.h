/* k8s_batch.h: Kubernetes CronJobs and Jobs (batch/v1) — the CronJob list with schedule and last
 * schedule, "run now" (a Job made from the CronJob exactly as `kubectl create job --from=cronjob/`
 * makes it), suspend/resume (the merge patch `kubectl patch cronjob` sends), and a Job's progress
 * to Complete or Failed. Requests go through k8s.c (its credentials and transport). */
#ifndef LABDECK_K8S_BATCH_H
#define LABDECK_K8S_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct k8s;
struct k8s_batch_op;

struct k8s_cronjob {
	char *ns, *name, *schedule;
	char *last_schedule; /* status.lastScheduleTime as sent, or NULL (never scheduled) */
	bool suspend;
	size_t active; /* Jobs listed in status.active */
};

struct k8s_cronjobs {
	struct k8s_cronjob *items;
	size_t len;
};

enum k8s_job_state {
	K8S_JOB_PENDING,  /* created, no pod started yet */
	K8S_JOB_ACTIVE,   /* pods running */
	K8S_JOB_COMPLETE, /* condition Complete=True */
	K8S_JOB_FAILED,   /* condition Failed=True */
};

struct k8s_job_status {
	enum k8s_job_state state;
	long active, succeeded, failed;
	char *reason;  /* of the final condition, or NULL */
	char *message; /* of the final condition, or NULL */
};

/* k8s_batch_parse_cronjob reads one CronJob object (a GET's or a PATCH's answer) into out, as
 * k8s_batch_parse_cronjobs reads each item; false with ERR_MALFORMED when it is not JSON, not an
 * object, or lacks metadata.name or spec.schedule. Free with k8s_cronjob_finish. */
bool k8s_batch_parse_cronjob(const char *body, size_t len, struct k8s_cronjob *out,
                             struct err *err);
/* k8s_cronjob_finish frees c's strings and zeroes it. */
void k8s_cronjob_finish(struct k8s_cronjob *c);

/* k8s_batch_parse_cronjobs reads a CronJobList into out (items in the order sent). */
bool k8s_batch_parse_cronjobs(const char *body, size_t len, struct k8s_cronjobs *out,
                              struct err *err);
/* k8s_cronjobs_finish frees the list's contents. */
void k8s_cronjobs_finish(struct k8s_cronjobs *l);

/* k8s_batch_parse_job reads a Job's status: Complete or Failed when a condition of that type has
 * status "True" (wherever it stands in the list), else active when status.active > 0 or
 * startTime is set, else pending. */
bool k8s_batch_parse_job(const char *body, size_t len, struct k8s_job_status *out, struct err *err);
/* k8s_job_status_finish frees reason and message. */
void k8s_job_status_finish(struct k8s_job_status *st);
/* k8s_job_state_name: "pending", "active", "complete" or "failed". */
const char *k8s_job_state_name(enum k8s_job_state s);

/* k8s_batch_manual_name: "CRONJOB-manual-XXXXX", five characters of Kubernetes' random alphabet
 * taken from seed, the CronJob's name cut so that the whole stays within 63 characters (the name
 * becomes the job-name pod label). */
char *k8s_batch_manual_name(const char *cronjob, unsigned long seed);

/* k8s_batch_job_from_cronjob builds the Job kubectl's createJobFromCronJob builds from the
 * CronJob object in body: kind Job, apiVersion batch/v1, metadata name job_name and the
 * CronJob's namespace, labels of spec.jobTemplate.metadata, annotations
 * cronjob.kubernetes.io/instantiate: manual merged with (and overridden by) the template's,
 * ownerReferences [{apiVersion batch/v1, kind CronJob, name, uid, controller: true}] (no
 * blockOwnerDeletion), spec = spec.jobTemplate.spec verbatim. Returns the JSON text, or NULL with
 * err set when the CronJob lacks what is needed. */
char *k8s_batch_job_from_cronjob(const char *body, size_t len, const char *job_name,
                                 struct err *err);

typedef void (*k8s_batch_list_fn)(void *ud, struct k8s_cronjobs *l, const struct err *err);
typedef void (*k8s_batch_run_fn)(void *ud, const char *job_name, const struct err *err);
typedef void (*k8s_batch_job_fn)(void *ud, const struct k8s_job_status *st, const struct err *err);
/* after: the CronJob as the server returned it (valid during the call only), NULL on error. */
typedef void (*k8s_batch_suspend_fn)(void *ud, const struct k8s_cronjob *after,
                                     const struct err *err);

/* k8s_batch_list lists CronJobs of ns (NULL: all namespaces). The callback runs once. */
struct k8s_batch_op *k8s_batch_list(struct k8s *k, const char *ns, k8s_batch_list_fn cb, void *ud);
/* k8s_batch_run_now reads CronJob ns/name and creates a Job from it (POST, never retried; with
 * fieldValidation=Strict), named by k8s_batch_manual_name. The callback gets the Job's name. */
struct k8s_batch_op *k8s_batch_run_now(struct k8s *k, const char *ns, const char *name,
                                       k8s_batch_run_fn cb, void *ud);
/* k8s_batch_get_job reads Job ns/name's status (one poll of a follow). */
struct k8s_batch_op *k8s_batch_get_job(struct k8s *k, const char *ns, const char *name,
                                       k8s_batch_job_fn cb, void *ud);
/* k8s_batch_set_suspend suspends (suspend true) or resumes CronJob ns/name: PATCH
 * /apis/batch/v1/namespaces/NS/cronjobs/NAME?fieldManager=labdeck with Content-Type
 * application/merge-patch+json and body {"spec":{"suspend":true|false}}, as `kubectl patch cronjob
 * NAME -p '{"spec":{"suspend":true}}' --type=merge` sends it; never retried. The callback runs
 * once with the CronJob the server answered (its suspend is the new value), or with an error:
 * 404 says the CronJob is gone, 403 that the RBAC verb "patch" on cronjobs is missing. */
struct k8s_batch_op *k8s_batch_set_suspend(struct k8s *k, const char *ns, const char *name,
                                           bool suspend, k8s_batch_suspend_fn cb, void *ud);
/* k8s_batch_cancel stops an operation; its callback is not called. NULL-safe. */
void k8s_batch_cancel(struct k8s_batch_op *op);

#endif
