/* config.h: the one INI file of SPEC.md §2, parsed (inih) and validated. Every section is
 * read here, even for backends that come later, so a typo is caught on the first run. */
#ifndef LABDECK_CONFIG_H
#define LABDECK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Where a secret's value was read from, for messages that say which key to fix. */
enum config_source {
	CONFIG_SOURCE_NONE,  /* not set */
	CONFIG_SOURCE_PLAIN, /* the key itself: api_key = ... */
	CONFIG_SOURCE_ENV,   /* K_env: the environment variable it names */
	CONFIG_SOURCE_FILE,  /* K_file: the first line of the file it names */
};

/* TLS settings shared by every HTTPS backend. */
struct config_tls {
	char *ca_file;     /* expanded path or NULL */
	char *fingerprint; /* normalised "AA:BB:..." (upper-case, 32 colon-separated bytes) or NULL
	                    */
	bool insecure;
};

struct config_ui {
	char *theme; /* default "default" */
	int refresh; /* seconds, default 5, 1..3600 */
	bool readonly;
};

struct config_proxmox {
	bool configured; /* the section is present with a url */
	char *url;       /* base URL without trailing slash, e.g. https://pve:8006 */
	char *token_id;  /* USER@REALM!TOKENID */
	char *token_secret;
	struct config_tls tls;
};

struct config_kubernetes {
	bool configured;  /* section present (kubeconfig may still come from defaults) */
	char *kubeconfig; /* explicit path or NULL: then $KUBECONFIG, then ~/.kube/config */
	char *context;    /* NULL: current-context */
	char *namespace_; /* NULL: all namespaces */
};

struct config_ollama {
	bool configured;
	char *url; /* default $OLLAMA_HOST, then http://127.0.0.1:11434 */
	char *chat_model, *summary_model, *embed_model;
	int num_ctx;        /* default 8192 */
	double temperature; /* NAN: not sent */
	char *keep_alive;   /* NULL: not sent */
};

struct config_gemini {
	bool configured;
	char *url; /* default https://generativelanguage.googleapis.com */
	char *api_key;
	enum config_source api_key_source; /* which of api_key, _env, _file set it */
	char *model;                       /* default gemini-2.5-pro */
	double price_in, price_out;
};

struct config_openai {
	bool configured;
	char *url, *model, *api_key;
	enum config_source api_key_source; /* which of api_key, _env, _file set it */
};

struct config_rag {
	bool configured;
	char *postgres; /* conninfo; NULL: the embedded local index */
	char *table;    /* default rag_chunks */
	int top_k;      /* default 5 */
	char *pipeline; /* "condense" (default) or "direct" */
};

struct config_redis {
	bool configured;
	char *url; /* redis://host:port/db */
	char *password;
	int cache_ttl; /* default 86400; 0 disables */
};

struct config_argocd {
	bool configured;
	char *url, *token;
	struct config_tls tls;
};

struct config_github {
	bool configured;
	char *url; /* default https://api.github.com */
	char *repo, *ref, *token;
	struct config_tls tls;
};

struct config_airflow {
	bool configured;
	char *url, *username, *password;
	struct config_tls tls;
};

struct config_ssh_command {
	char *name, *command;
};

struct config_ssh_host {
	char *name; /* the quoted word of [ssh "name"] */
	char *host;
	int port;          /* default 22 */
	char *user;        /* default $USER */
	char *identity;    /* expanded; NULL: ssh agent */
	char *known_hosts; /* expanded; default ~/.ssh/known_hosts */
	struct config_ssh_command *commands;
	size_t n_commands;
};

struct config_discord {
	bool configured;
	char *webhook_url;
	enum config_source webhook_url_source; /* which of webhook_url, _env, _file set it */
};

struct config_topology_entry {
	char *node; /* Kubernetes node name */
	int vmid;
};

struct config_topology {
	struct config_topology_entry *map;
	size_t n_map;
	int ollama_vmid; /* -1 when not set */
};

/* A key override from [keys]: "pods.l = logs". */
struct config_key {
	char *view, *key, *action;
};

struct config {
	char *path; /* the file read, NULL when none was found */
	struct config_ui ui;
	struct config_proxmox proxmox;
	struct config_kubernetes kubernetes;
	struct config_ollama ollama;
	struct config_gemini gemini;
	struct config_openai openai;
	struct config_rag rag;
	struct config_redis redis;
	struct config_argocd argocd;
	struct config_github github;
	struct config_airflow airflow;
	struct config_ssh_host *ssh;
	size_t n_ssh;
	struct config_discord discord;
	struct config_topology topology;
	struct config_key *keys;
	size_t n_keys;
	/* Warnings that do not stop the program (e.g. insecure = true), one per line. */
	char **warnings;
	size_t n_warnings;
};

/* config_find returns the path SPEC.md §2's lookup order picks (explicit, $LABDECK_CONFIG,
 * $XDG_CONFIG_HOME/labdeck/config.ini, ~/.config/labdeck/config.ini), or NULL when no file
 * exists. An explicit or $LABDECK_CONFIG path is returned even when missing, so loading it
 * reports the error. */
char *config_find(const char *explicit_path);

/* config_load fills cfg with defaults, then reads path (NULL: defaults only). On error it
 * returns false with err->code = ERR_CONFIG and a message "FILE:LINE: problem" (never a
 * secret's value), and leaves cfg freed and zeroed. Non-fatal findings (unknown keys, an
 * unset K_env variable, insecure = true) are in cfg->warnings, each "FILE:LINE: ...". */
bool config_load(struct config *cfg, const char *path, struct err *err);

/* config_load_string parses text as if read from a file named name (for tests and fuzzers);
 * permission checks are skipped. */
bool config_load_string(struct config *cfg, const char *name, const char *text, struct err *err);

/* config_source_suffix is what follows a secret key's name in the file for src: "" for the key
 * itself (and for CONFIG_SOURCE_NONE), "_env" or "_file"; so "api_key" read from a file was
 * written "api_key_file". */
const char *config_source_suffix(enum config_source src);

/* config_finish frees everything cfg holds and zeroes it; safe on a zeroed, partly filled or
 * already finished struct, and on NULL. */
void config_finish(struct config *cfg);

#endif
