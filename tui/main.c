/* main.c: the command line. `labdeck` alone will open the console; every other form runs once. */
#include <event2/event.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "demo.h"
#include "http.h"
#include "text.h"
#include "util.h"

static void usage(FILE *out)
{
	fputs("usage: labdeck [OPTIONS] COMMAND [ARGS]\n"
	      "\n"
	      "A terminal console for a Proxmox VE + Kubernetes home lab.\n"
	      "\n"
	      "With no command, labdeck opens the full-screen console (press ? in it for keys).\n"
	      "\n"
	      "Commands:\n"
	      "  nodes                 Proxmox nodes and Kubernetes nodes: status, CPU, memory, "
	      "uptime\n"
	      "  guests [--node N]     Proxmox VMs and containers, with PCI passthrough\n"
	      "  pods [-n NS]          Kubernetes pods (all namespaces unless -n or [kubernetes] "
	      "namespace)\n"
	      "  rag ingest FILE...    chunk, embed ([ollama] embed_model) and store files for "
	      "retrieval\n"
	      "  rag query TEXT        the [rag] top_k stored chunks nearest TEXT, with distances\n"
	      "  chat [--provider P] [--model M] MESSAGE|-\n"
	      "                        ask a model (ollama, gemini or openai); the answer streams\n"
	      "                        to stdout ('labdeck chat --help' for the rest)\n"
	      "  session list|show NAME|rename OLD NEW|delete NAME [--yes]\n"
	      "                        the named conversations of 'chat --session NAME'\n"
	      "  deploy list | sync APP [--prune] [--dry-run] | run WORKFLOW [--ref R]\n"
	      "                        [--input K=V]...  ArgoCD apps and GitHub workflows; sync\n"
	      "                        or dispatch one ([--yes] [--wait] to follow it)\n"
	      "  guest start|shutdown|stop|reboot VMID [--yes] [--wait]\n"
	      "                        a Proxmox power action; its task id (UPID); with --wait,\n"
	      "                        the task followed to its exit status\n"
	      "  jobs list | trigger DAG|cronjob/NAME [-n NS] [--conf JSON] | pause|unpause DAG\n"
	      "                        Airflow DAGs and Kubernetes CronJobs; run one now\n"
	      "                        ([--yes] [--wait] to follow it to its end)\n"
	      "  ssh HOST -- COMMAND...\n"
	      "                        run COMMAND on the [ssh \"HOST\"] host: its output, its\n"
	      "                        exit status ('ssh HOST' lists quick commands, ':NAME' runs "
	      "one)\n"
	      "  topology              hosts -> guests -> Kubernetes nodes -> workloads and\n"
	      "                        models: capacity, allocation, use and warnings\n"
	      "\n"
	      "Options:\n"
	      "  --json                print one JSON object (SPEC shapes) instead of a table\n"
	      "  --config PATH         config file (default: $LABDECK_CONFIG,\n"
	      "                        $XDG_CONFIG_HOME/labdeck/config.ini, "
	      "~/.config/labdeck/config.ini)\n"
	      "  -n, --namespace NS    Kubernetes namespace for pods\n"
	      "  --node NODE           only guests on this Proxmox node\n"
	      "  --timeout SECONDS     per-request timeout (default 30)\n"
	      "  --readonly            refuse every changing action\n"
	      "  --demo                the console against a simulated lab, started for it\n"
	      "  --keys                print the console's key bindings (Markdown)\n"
	      "  --version             print the version\n"
	      "  -h, --help            this help\n"
	      "\n"
	      "Exit status: 0 done; 1 refused or failed; 2 usage or configuration error;\n"
	      "3 a backend unreachable, timed out or malformed; 4 authentication or permission "
	      "refused.\n"
	      "Docs: docs/configuration.md, docs/architecture.md.\n",
	      out);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	fputs("labdeck: ", stderr);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'labdeck --help'.\n", stderr);
	return 2;
}

enum {
	OPT_JSON = 1000,
	OPT_CONFIG,
	OPT_NODE,
	OPT_TIMEOUT,
	OPT_READONLY,
	OPT_VERSION,
	OPT_DEMO,
	OPT_KEYS
};

/* `rag` takes words after it: they wait here for its runner. */
static int rag_argc;
static char **rag_argv;

static int run_rag(struct cli *c)
{
	return cli_rag(c, rag_argc, rag_argv);
}

/* `chat` parses its own options (cli_chat); the global ones may stand before or after it.
 * split_chat puts its words here and the global options in an argv of their own. */
static int chat_argc;
static char **chat_argv;
static char **global_argv;

static int run_chat(struct cli *c)
{
	return cli_chat(c, chat_argc, chat_argv);
}

static int run_session(struct cli *c)
{
	return cli_session(c, chat_argc, chat_argv);
}

static int run_guest(struct cli *c)
{
	return cli_guest(c, chat_argc, chat_argv);
}

static int run_ssh(struct cli *c)
{
	return cli_ssh(c, chat_argc, chat_argv);
}

static int run_deploy(struct cli *c)
{
	return cli_deploy(c, chat_argc, chat_argv);
}

static int run_jobs(struct cli *c)
{
	return cli_jobs(c, chat_argc, chat_argv);
}

static void free_split(void)
{
	free(chat_argv);
	free(global_argv);
}

static bool is_opt(const char *a, const char *name)
{
	return strcmp(a, name) == 0;
}

/* split_chat: when the command word is "chat" (or "session", which parses its own options the
 * same way), keeps in argc and argv only the global options (from before and after it) and moves
 * the rest, from the command word on, to chat_argv. A value of chat's own options (--model
 * --json) stays with chat; everything after "--" too. */
static void split_chat(int *argc, char ***argv)
{
	int n = *argc;
	char **v = *argv;
	int i = 1;
	while (i < n && !is_opt(v[i], "--") && v[i][0] == '-' && v[i][1] != '\0') {
		bool takes_value = is_opt(v[i], "--config") || is_opt(v[i], "--timeout") ||
		                   is_opt(v[i], "--node") || is_opt(v[i], "--namespace") ||
		                   is_opt(v[i], "-n");
		i += takes_value ? 2 : 1;
	}
	if (i >= n || (strcmp(v[i], "chat") != 0 && strcmp(v[i], "session") != 0 &&
	               strcmp(v[i], "guest") != 0 && strcmp(v[i], "ssh") != 0 &&
	               strcmp(v[i], "deploy") != 0 && strcmp(v[i], "jobs") != 0)) {
		return;
	}
	global_argv = xcalloc((size_t)n + 1, sizeof(*global_argv));
	chat_argv = xcalloc((size_t)n + 1, sizeof(*chat_argv));
	atexit(free_split);
	int gn = 0, cn = 0;
	for (int k = 0; k < i; k++) {
		global_argv[gn++] = v[k];
	}
	chat_argv[cn++] = v[i];
	for (int k = i + 1; k < n; k++) {
		const char *a = v[k];
		if (is_opt(a, "--")) {
			while (k < n) {
				chat_argv[cn++] = v[k++];
			}
			break;
		}
		if (is_opt(a, "--json") || is_opt(a, "--readonly") ||
		    str_has_prefix(a, "--config=") || str_has_prefix(a, "--timeout=")) {
			global_argv[gn++] = v[k];
		} else if ((is_opt(a, "--config") || is_opt(a, "--timeout")) && k + 1 < n) {
			global_argv[gn++] = v[k++];
			global_argv[gn++] = v[k];
		} else if ((is_opt(a, "--provider") || is_opt(a, "--model") ||
		            is_opt(a, "--session")) &&
		           k + 1 < n) {
			chat_argv[cn++] = v[k++];
			chat_argv[cn++] = v[k];
		} else {
			chat_argv[cn++] = v[k];
		}
	}
	chat_argc = cn;
	*argc = gn;
	*argv = global_argv;
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	signal(SIGPIPE, SIG_IGN);
	static const struct option long_opts[] = {
	        {"json", no_argument, NULL, OPT_JSON},
	        {"config", required_argument, NULL, OPT_CONFIG},
	        {"namespace", required_argument, NULL, 'n'},
	        {"node", required_argument, NULL, OPT_NODE},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"readonly", no_argument, NULL, OPT_READONLY},
	        {"version", no_argument, NULL, OPT_VERSION},
	        {"demo", no_argument, NULL, OPT_DEMO},
	        {"keys", no_argument, NULL, OPT_KEYS},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct cli c = {0};
	bool demo = false;
	int opt;
	opterr = 0;
	split_chat(&argc, &argv);
	while ((opt = getopt_long(argc, argv, "n:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			c.json = true;
			break;
		case OPT_CONFIG:
			c.config_path = optarg;
			break;
		case 'n':
			c.ns = optarg;
			break;
		case OPT_NODE:
			c.node = optarg;
			break;
		case OPT_TIMEOUT: {
			char *end;
			double s = strtod(optarg, &end);
			if (*end || s <= 0 || s > 3600) {
				return usage_error(
				        "--timeout wants seconds (0 < s <= 3600), not '%s'",
				        optarg);
			}
			c.timeout_ms = (long)(s * 1000);
			break;
		}
		case OPT_READONLY:
			c.readonly = true;
			break;
		case OPT_KEYS:
			help_print_markdown(stdout);
			return 0;
		case OPT_DEMO:
			demo = true;
			break;
		case OPT_VERSION:
			printf("labdeck %s\n", LABDECK_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default: {
			const char *bad = argv[optind - 1];
			return usage_error("unknown option '%s'", bad ? bad : "?");
		}
		}
	}
	if (demo) {
		if (optind < argc || chat_argv) {
			return usage_error("--demo takes no command");
		}
		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			fputs("labdeck: --demo opens the console and needs a terminal\n", stderr);
			return 2;
		}
		return demo_run(c.readonly);
	}
	const char *cmd = chat_argv ? chat_argv[0] : optind < argc ? argv[optind] : NULL;
	int (*run)(struct cli *) = NULL;
	if (!cmd) {
		run = NULL; /* the console */
	} else if (strcmp(cmd, "nodes") == 0) {
		run = cli_nodes;
	} else if (strcmp(cmd, "guests") == 0) {
		run = cli_guests;
	} else if (strcmp(cmd, "pods") == 0) {
		run = cli_pods;
	} else if (strcmp(cmd, "topology") == 0) {
		run = cli_topology;
	} else if (strcmp(cmd, "rag") == 0) {
		run = run_rag;
		rag_argc = argc - optind;
		rag_argv = argv + optind;
	} else if (strcmp(cmd, "chat") == 0) {
		run = run_chat;
	} else if (strcmp(cmd, "session") == 0) {
		run = run_session;
	} else if (strcmp(cmd, "guest") == 0) {
		run = run_guest;
	} else if (strcmp(cmd, "ssh") == 0) {
		run = run_ssh;
	} else if (strcmp(cmd, "deploy") == 0) {
		run = run_deploy;
	} else if (strcmp(cmd, "jobs") == 0) {
		run = run_jobs;
	} else {
		char *safe = text_sanitize(cmd, false);
		int rc = usage_error("unknown command '%s'", safe);
		free(safe);
		return rc;
	}
	if (cmd && run != run_rag && run != run_chat && run != run_session && optind + 1 < argc) {
		char *safe = text_sanitize(argv[optind + 1], false);
		int rc = usage_error("unexpected argument '%s'", safe);
		free(safe);
		return rc;
	}

	struct err err;
	err_clear(&err);
	char *path = config_find(c.config_path);
	if (!config_load(&c.cfg, path, &err)) {
		char *safe = text_sanitize(err.msg, false);
		fprintf(stderr, "labdeck: %s\n", safe);
		free(safe);
		free(path);
		config_finish(&c.cfg);
		return 2;
	}
	free(path);
	for (size_t i = 0; i < c.cfg.n_warnings; i++) {
		char *safe = text_sanitize(c.cfg.warnings[i], false);
		fprintf(stderr, "labdeck: warning: %s\n", safe);
		free(safe);
	}
	if (!run) {
		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			fputs("labdeck: the console needs a terminal; for scripts use 'labdeck "
			      "nodes', "
			      "'guests' or 'pods' (with --json)\n",
			      stderr);
			config_finish(&c.cfg);
			return 2;
		}
		int rc = app_run(&c.cfg, c.readonly, c.timeout_ms);
		config_finish(&c.cfg);
		return rc;
	}
	c.base = event_base_new();
	c.http = http_create(c.base);
	if (c.timeout_ms) {
		http_set_default_timeout(c.http, c.timeout_ms);
	}
	int rc = run(&c);
	http_destroy(c.http);
	event_base_free(c.base);
	for (size_t i = 0; i < c.n_errors; i++) {
		free(c.errors[i].backend);
	}
	free(c.errors);
	config_finish(&c.cfg);
	return rc;
}
