/* keys.h: every action the console knows, in one X-macro table: the enum, the name used by
 * `[keys]` overrides and `:` commands, and the help text all come from here, so `?` never lies. */
#ifndef LABDECK_KEYS_H
#define LABDECK_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

/* Where a binding applies. */
enum key_scope {
	SCOPE_GLOBAL,
	SCOPE_LIST, /* every list view */
	SCOPE_PODS,
	SCOPE_LOGS,
	SCOPE_DETAIL,
	SCOPE_CHAT,
	SCOPE_SESSIONS,
	SCOPE_GUESTS,
	SCOPE_HOSTS,
	SCOPE_DEPLOY,
	SCOPE_JOBS,
	SCOPE_TOPOLOGY,
	SCOPE_COUNT
};

/* X(ACT_ENUM, "name", "help text") */
#define ACTIONS(X)                                                                                 \
	X(ACT_NONE, "none", "")                                                                    \
	X(ACT_QUIT, "quit", "quit labdeck (from a view's top level)")                              \
	X(ACT_HELP, "help", "show this help")                                                      \
	X(ACT_VIEW_NODES, "nodes", "nodes dashboard: is my lab healthy?")                          \
	X(ACT_VIEW_GUESTS, "guests", "Proxmox VMs and containers")                                 \
	X(ACT_VIEW_PODS, "pods", "Kubernetes pods")                                                \
	X(ACT_VIEW_CHAT, "chat", "chat with local models and Gemini (:chat gemini switches)")      \
	X(ACT_VIEW_DEPLOY, "deploy", "ArgoCD applications and GitHub Actions workflows")           \
	X(ACT_VIEW_JOBS, "jobs", "Airflow DAGs and CronJobs")                                      \
	X(ACT_VIEW_HOSTS, "hosts", "SSH hosts and their quick commands")                           \
	X(ACT_VIEW_TOPOLOGY, "topology", "the lab as one tree: hosts, guests, nodes, workloads")   \
	X(ACT_FILTER, "filter", "filter the list as you type (Enter keeps it, Esc clears)")        \
	X(ACT_COMMAND, "command",                                                                  \
	  "command line (:pods, :ns NAME, :theme NAME, :q), Tab completes")                        \
	X(ACT_BACK, "back", "back, cancel a running request, or clear the filter")                 \
	X(ACT_REFRESH, "refresh", "refresh now")                                                   \
	X(ACT_THEME, "theme", "next theme")                                                        \
	X(ACT_REDRAW, "redraw", "redraw the screen")                                               \
	X(ACT_DOWN, "down", "move down")                                                           \
	X(ACT_UP, "up", "move up")                                                                 \
	X(ACT_TOP, "top", "go to the first row")                                                   \
	X(ACT_BOTTOM, "bottom", "go to the last row")                                              \
	X(ACT_PAGE_DOWN, "page-down", "one page down")                                             \
	X(ACT_PAGE_UP, "page-up", "one page up")                                                   \
	X(ACT_ENTER, "details", "details of the selected row")                                     \
	X(ACT_SORT, "sort", "sort by the next column (again: reverse)")                            \
	X(ACT_LOGS, "logs", "follow the selected pod's logs")                                      \
	X(ACT_NAMESPACE, "namespace", "switch namespace (all, then each one)")                     \
	X(ACT_PAUSE, "pause", "pause or resume following")                                         \
	X(ACT_SEARCH, "search", "search the log")                                                  \
	X(ACT_NEXT_MATCH, "next-match", "next search match")                                       \
	X(ACT_PREV_MATCH, "prev-match", "previous search match")                                   \
	X(ACT_CHAT_INPUT, "type",                                                                  \
	  "type a message (Enter sends, Alt-Enter or ^J new line, Esc leaves)")                    \
	X(ACT_COPY, "copy", "copy the last answer to the clipboard (OSC 52)")                      \
	X(ACT_COPY_CODE, "copy-code", "copy the last answer's last code block (OSC 52)")           \
	X(ACT_PROVIDER, "provider", "next provider: ollama, gemini, openai (those configured)")    \
	X(ACT_MODEL, "model", "next model Ollama has (:model NAME picks any)")                     \
	X(ACT_RAG, "documents", "answer from your documents (RAG) on or off")                      \
	X(ACT_SESSIONS, "sessions", "saved conversations: resume, rename, delete")                 \
	X(ACT_RENAME, "rename", "rename the selected session")                                     \
	X(ACT_DELETE, "delete", "delete the selected session (asks first)")                        \
	X(ACT_NEW, "new", "start a new conversation (named when you give it a name)")              \
	X(ACT_ACTIONS, "actions", "the action log: every change made from here, and how it ended") \
	X(ACT_GUEST_START, "start", "start the guest (asks first)")                                \
	X(ACT_GUEST_SHUTDOWN, "shutdown", "shut the guest down cleanly (asks first)")              \
	X(ACT_GUEST_STOP, "stop", "stop the guest: power off (asks for its name)")                 \
	X(ACT_GUEST_REBOOT, "reboot", "reboot the guest (asks first)")                             \
	X(ACT_JOBS_TRIGGER, "trigger", "trigger the DAG, or run the CronJob now (asks first)")     \
	X(ACT_JOBS_TRIGGER_CONF, "trigger-conf",                                                   \
	  "trigger the DAG with a conf you type (a JSON object, asks first)")                      \
	X(ACT_JOBS_PAUSE, "pause-dag",                                                             \
	  "pause or unpause the DAG, suspend or resume the CronJob (asks first)")                  \
	X(ACT_HOST_COMMAND, "ssh-command", "type a command line to run on the host (asks first)")  \
	X(ACT_HOST_OUTPUT, "ssh-output", "the last command's output (Esc stops it while it runs)") \
	X(ACT_WRAP, "wrap", "the output's long lines: wrapped (as a terminal shows them) or cut")  \
	X(ACT_DEPLOY_SECTION, "section",                                                           \
	  "switch between ArgoCD applications and GitHub workflows")                               \
	X(ACT_DEPLOY_SYNC, "sync", "sync the selected ArgoCD application (asks first)")            \
	X(ACT_DEPLOY_PRUNE, "sync-prune",                                                          \
	  "sync with prune: deletes what git no longer has (asks for its name)")                   \
	X(ACT_DEPLOY_DRY_RUN, "sync-dry-run",                                                      \
	  "sync as a dry run: shows what would change (asks first)")                               \
	X(ACT_DEPLOY_DISPATCH, "dispatch",                                                         \
	  "run the selected workflow on [github] ref (asks first)")                                \
	X(ACT_DEPLOY_DISPATCH_INPUTS, "dispatch-inputs",                                           \
	  "run the selected workflow with a ref and inputs you type: --ref R KEY=VALUE...")        \
	X(ACT_TOPO_FOLD, "fold", "fold or unfold the selected line of the tree")                   \
	X(ACT_TOPO_OPEN, "open", "open the selected guest, node or workload in its own view")

enum action {
#define X(e, name, help) e,
	ACTIONS(X)
#undef X
	        ACT_COUNT
};

/* Special key codes beyond wide characters (KEY_* from curses are passed as-is, offset). */
#define KEYS_CTRL(c) ((c)&0x1f)

struct binding {
	enum key_scope scope;
	int key; /* a character, or a curses KEY_* code + KEYS_FN_BASE */
	enum action action;
};

#define KEYS_FN_BASE 0x110000 /* above every Unicode code point */

const char *action_name(enum action a);
const char *action_help(enum action a);
/* action_by_name: the action called name, or ACT_NONE. */
enum action action_by_name(const char *name);

/* keys_lookup finds what key does in scope (falling back to SCOPE_LIST, then SCOPE_GLOBAL
 * when list_fallback). */
enum action keys_lookup(enum key_scope scope, bool is_list, int key);
/* keys_name writes a key as help shows it ("j", "Enter", "PgDn", "^L"). */
void keys_name(int key, char *out, size_t size);
/* keys_bindings gives the table (for help). */
const struct binding *keys_bindings(size_t *n);
/* keys_override applies a [keys] entry: "pods.l = logs"; false with a reason when bad. */
bool keys_override(const char *view, const char *key, const char *action, char *why, size_t size);
const char *keys_scope_name(enum key_scope s);

#endif
