/* cli.h: the one-shot commands of SPEC.md §3 (everything but the console). */
#ifndef LABDECK_CLI_H
#define LABDECK_CLI_H

#include <stdbool.h>

#include "config.h"
#include "err.h"

struct event_base;
struct http;

/* What the command line said, plus what every command shares. */
struct cli {
	const char *config_path;
	bool json;
	bool readonly;
	const char *ns;   /* -n */
	const char *node; /* --node */
	long timeout_ms;  /* --timeout */
	struct config cfg;
	struct event_base *base;
	struct http *http;
	/* The errors of this run: printed to stderr and put in the JSON "errors" list. */
	struct cli_error {
		char *backend;
		struct err err;
	} * errors;
	size_t n_errors;
	int exit_status;
};

/* cli_add_error records a backend's error (exit status per SPEC.md §3, worst wins); the same
 * backend's same error twice (two requests that failed alike) is kept once. */
void cli_add_error(struct cli *c, const char *backend, const struct err *e);
/* cli_report_errors prints each error to stderr as "labdeck: MESSAGE", sanitised. */
void cli_report_errors(const struct cli *c);
/* cli_say prints one diagnostic line on stderr, "labdeck: MESSAGE", sanitised (names and
 * messages from the network never reach the terminal as control sequences). */
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_usage_error prints "labdeck: COMMAND: MESSAGE" and "Try 'labdeck COMMAND --help'." and
 * returns 2 (a usage error). */
int cli_usage_error(const char *command, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* What one session store operation left behind, for a command that waits for it on its loop
 * (pass the struct as the callback's ud, then cli_wait_until(c, &w.done)). */
struct session;
struct session_list;
struct cli_session_wait {
	bool done;
	bool failed;
	struct err err;
	struct session *session;   /* cli_session_loaded */
	struct session_list *list; /* cli_session_listed */
};
/* The session store's callbacks for a cli_session_wait. */
void cli_session_loaded(void *ud, struct session *s, const struct err *err);
void cli_session_done(void *ud, const struct err *err);
void cli_session_listed(void *ud, struct session_list *list, const struct err *err);
/* cli_wait_until runs c's loop until *done. */
void cli_wait_until(struct cli *c, const bool *done);

/* The status commands; each returns the exit status. */
int cli_nodes(struct cli *c);
int cli_guests(struct cli *c);
int cli_pods(struct cli *c);
/* cli_topology runs `labdeck topology [--json]`: hosts, guests, Kubernetes nodes, workloads and
 * models with capacity, allocation, use and warnings (SPEC.md §3). Returns the exit status. */
int cli_topology(struct cli *c);

/* cli_rag runs `labdeck rag ingest FILE...` or `labdeck rag query TEXT...`; argv[0] is "rag",
 * argv[1] the subcommand, the rest its arguments ("-" reads standard input). Returns the exit
 * status. */
int cli_rag(struct cli *c, int argc, char **argv);

/* cli_session runs `labdeck session list|show NAME|rename OLD NEW|delete NAME [--yes]
 * [--json]`: the sessions `labdeck chat --session` keeps, in Redis when [redis] url is set (no
 * fallback to files when it is down: exit 3 naming host:port), else in files. argv[0] is
 * "session". Returns the exit status. */
int cli_session(struct cli *c, int argc, char **argv);

/* cli_chat runs `labdeck chat [--provider P] [--model M] [--no-cache] [--session NAME] [--rag]
 * MESSAGE|-`; argv[0] is "chat". Returns the exit status (130 after Ctrl-C). */
int cli_chat(struct cli *c, int argc, char **argv);

/* cli_deploy runs `labdeck deploy list | sync APP [--prune] [--dry-run] [--revision R] [--yes]
 * [--wait] | run WORKFLOW [--ref R] [--input K=V]... [--yes] [--wait]` (ArgoCD and GitHub
 * Actions); argv[0] is "deploy". Returns the exit status (130 after Ctrl-C while following). */
int cli_deploy(struct cli *c, int argc, char **argv);

/* cli_guest runs `labdeck guest start|shutdown|stop|reboot VMID [--yes] [--wait] [--json]`: a
 * Proxmox power action, confirmed, and its task; argv[0] is "guest". Returns the exit status (1
 * for a task that failed, 130 after Ctrl-C while following). */
int cli_guest(struct cli *c, int argc, char **argv);

/* cli_ssh runs `labdeck ssh HOST -- COMMAND...` (the words joined with single spaces, as ssh(1)
 * does), `labdeck ssh HOST` (its quick commands) or `labdeck ssh HOST :NAME`; argv[0] is "ssh".
 * Returns the remote exit status (128+N when killed by signal N), else SPEC.md §3's. */
int cli_ssh(struct cli *c, int argc, char **argv);

/* cli_jobs runs `labdeck jobs list [-n NS] | trigger DAG|cronjob/NAME [-n NS] [--conf JSON]
 * [--yes] [--wait] | pause|unpause DAG [--yes]` (Airflow 2/3 and Kubernetes CronJobs); argv[0]
 * is "jobs". Returns the exit status (1 for a run or Job that failed, 130 after Ctrl-C). */
int cli_jobs(struct cli *c, int argc, char **argv);

#endif
