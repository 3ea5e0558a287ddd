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

/* cli_add_error records a backend's error (exit status per SPEC.md §3, worst wins). */
void cli_add_error(struct cli *c, const char *backend, const struct err *e);
/* cli_report_errors prints each error to stderr as "labdeck: MESSAGE", sanitised. */
void cli_report_errors(const struct cli *c);

/* The status commands; each returns the exit status. */
int cli_nodes(struct cli *c);
int cli_guests(struct cli *c);
int cli_pods(struct cli *c);

/* cli_rag runs `labdeck rag ingest FILE...` or `labdeck rag query TEXT...`; argv[0] is "rag",
 * argv[1] the subcommand, the rest its arguments ("-" reads standard input). Returns the exit
 * status. */
int cli_rag(struct cli *c, int argc, char **argv);

struct llm_request;
struct llm_result;

/* cli_chat runs `labdeck chat [--provider P] [--model M] [--no-cache] [--session NAME] [--rag]
 * MESSAGE|-`; argv[0] is "chat". Returns the exit status (130 after Ctrl-C). */
int cli_chat(struct cli *c, int argc, char **argv);

/* cli_chat_run sends req on c's loop and streams the answer as `labdeck chat` does: text to
 * stdout as it arrives (sanitised on a terminal) unless c->json, thinking dimmed on stderr when
 * that is a terminal; --timeout is the stall limit. Ctrl-C or SIGTERM cancels, keeping what
 * came; *stopped_by is then that signal (SIGPIPE when stdout went away), else 0. Returns the
 * result, never NULL (llm_result_free it): a provider that is not configured gives ok false with
 * ERR_CONFIG. */
struct llm_result *cli_chat_run(struct cli *c, const struct llm_request *req, int *stopped_by);

struct vector_store_hits;
/* cli_rag_retrieve embeds question with [ollama] embed_model and fills hits with the top-k
 * chunks of the configured store (pgvector or the local index); false with the errors added to
 * c when either side fails. */
bool cli_rag_retrieve(struct cli *c, const char *question, struct vector_store_hits *hits);

#endif
