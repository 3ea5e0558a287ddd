/* kubeconfig.c: see kubeconfig.h.
 *
 * Each file is loaded with libyaml's document API (a node table; aliases are shared indexes, so
 * an alias bomb costs nothing as long as we only walk fixed paths, which we do). Then the one
 * context asked for is resolved across the files the way client-go merges them: the first file
 * that defines a cluster/user/context name wins, current-context comes from the first file that
 * sets it, and relative paths are resolved against the directory of the file that named them. */
#include "kubeconfig.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "json_util.h"
#include "util.h"

#define KUBECONFIG_MAX_FILE (16u << 20) /* a kubeconfig larger than this is not one */
#define KUBECONFIG_MAX_REF (1u << 20)   /* certificates, keys and token files */

struct kubeconfig_file {
	char *path; /* as named in messages */
	char *dir;  /* relative paths resolve against it; NULL keeps them relative */
	yaml_document_t doc;
	yaml_node_t *root; /* a mapping, or NULL for an empty document */
};

struct kubeconfig_set {
	struct kubeconfig_file *files;
	size_t n;
	const char *label; /* what error messages that concern no single file start with */
};

/* An entry (cluster, user or context) found by name, with the file that defined it. */
struct kubeconfig_entry {
	struct kubeconfig_file *file;
	yaml_node_t *body; /* the inner mapping ("cluster:", "user:", "context:"), or NULL */
};

/* ---- YAML access ---- */

static yaml_node_t *kubeconfig_node(struct kubeconfig_file *f, int index)
{
	return yaml_document_get_node(&f->doc, index);
}

/* kubeconfig_scalar: the text of a scalar node, NULL for anything else and for YAML nulls. */
static const char *kubeconfig_scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE) {
		return NULL;
	}
	const char *s = (const char *)n->data.scalar.value;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	     strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)) {
		return NULL;
	}
	return s;
}

/* kubeconfig_get: the value for key in a mapping node (first one wins), or NULL. */
static yaml_node_t *kubeconfig_get(struct kubeconfig_file *f, const yaml_node_t *map,
                                   const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE) {
		return NULL;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = kubeconfig_scalar(kubeconfig_node(f, p->key));
		if (k && strcmp(k, key) == 0) {
			return kubeconfig_node(f, p->value);
		}
	}
	return NULL;
}

/* kubeconfig_str: a non-empty scalar at key, else NULL. */
static const char *kubeconfig_str(struct kubeconfig_file *f, const yaml_node_t *map,
                                  const char *key)
{
	const char *s = kubeconfig_scalar(kubeconfig_get(f, map, key));
	return s && *s ? s : NULL;
}

static bool kubeconfig_bool(struct kubeconfig_file *f, const yaml_node_t *map, const char *key)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
	                                  "YES",  "on",   "On",   "ON"};
	const char *s = kubeconfig_str(f, map, key);
	for (size_t i = 0; s && i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			return true;
		}
	}
	return false;
}

/* kubeconfig_list: the sequence at key (NULL when absent or null). */
static yaml_node_t *kubeconfig_list(struct kubeconfig_file *f, const char *key)
{
	yaml_node_t *n = kubeconfig_get(f, f->root, key);
	return n && n->type == YAML_SEQUENCE_NODE ? n : NULL;
}

/* kubeconfig_find: the first entry of list `key` (clusters/users/contexts) whose name is `name`;
 * inner is the key of its body ("cluster", "user", "context"). */
static bool kubeconfig_find(struct kubeconfig_set *set, const char *key, const char *inner,
                            const char *name, struct kubeconfig_entry *out)
{
	for (size_t i = 0; i < set->n; i++) {
		struct kubeconfig_file *f = &set->files[i];
		yaml_node_t *list = kubeconfig_list(f, key);
		if (!list) {
			continue;
		}
		for (yaml_node_item_t *it = list->data.sequence.items.start;
		     it < list->data.sequence.items.top; it++) {
			yaml_node_t *entry = kubeconfig_node(f, *it);
			if (!str_eq(kubeconfig_str(f, entry, "name"), name)) {
				continue;
			}
			yaml_node_t *body = kubeconfig_get(f, entry, inner);
			out->file = f;
			out->body = body && body->type == YAML_MAPPING_NODE ? body : NULL;
			return true;
		}
	}
	return false;
}

/* kubeconfig_names appends the ", "-joined names of list `key` across files, each once. */
static void kubeconfig_names(struct kubeconfig_set *set, const char *key, struct buf *b)
{
	const char **names = NULL;
	size_t n = 0;
	for (size_t i = 0; i < set->n; i++) {
		struct kubeconfig_file *f = &set->files[i];
		yaml_node_t *list = kubeconfig_list(f, key);
		if (!list) {
			continue;
		}
		for (yaml_node_item_t *it = list->data.sequence.items.start;
		     it < list->data.sequence.items.top; it++) {
			const char *name = kubeconfig_str(f, kubeconfig_node(f, *it), "name");
			bool seen = !name;
			for (size_t j = 0; j < n && !seen; j++) {
				seen = strcmp(names[j], name) == 0;
			}
			if (!seen) {
				names = xrealloc(names, (n + 1) * sizeof(*names));
				names[n++] = name;
				buf_appendf(b, "%s%s", n > 1 ? ", " : "", name);
			}
		}
	}
	if (n == 0) {
		buf_appendf(b, "none");
	}
	free(names);
}

/* ---- files ---- */

/* kubeconfig_slurp reads a whole file of at most max bytes; false with errno-style *errnum. */
static bool kubeconfig_slurp(const char *path, size_t max, char **data, size_t *len, int *errnum)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		*errnum = errno;
		return false;
	}
	struct buf b;
	buf_init(&b);
	char chunk[8192];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (b.len + got > max) {
			buf_finish(&b);
			fclose(fp);
			*errnum = EFBIG;
			return false;
		}
		buf_append(&b, chunk, got);
	}
	if (ferror(fp)) {
		*errnum = errno ? errno : EIO;
		buf_finish(&b);
		fclose(fp);
		return false;
	}
	fclose(fp);
	*len = b.len;
	*data = buf_steal(&b);
	return true;
}

static char *kubeconfig_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		return xstrdup(".");
	}
	if (slash == path) {
		return xstrdup("/");
	}
	return xstrndup(path, (size_t)(slash - path));
}

/* kubeconfig_abspath resolves p against the directory of the file that named it. */
static char *kubeconfig_abspath(const struct kubeconfig_file *f, const char *p)
{
	if (p[0] == '/' || !f->dir || !*f->dir) {
		return xstrdup(p);
	}
	size_t n = strlen(f->dir);
	return xasprintf("%s%s%s", f->dir, f->dir[n - 1] == '/' ? "" : "/", p);
}

/* kubeconfig_parse loads text into f->doc; on a syntax error err names path:line:column. */
static bool kubeconfig_parse(struct kubeconfig_file *f, const char *text, size_t len,
                             struct err *err)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		return err_set(err, ERR_CONFIG, 0, "%s: cannot start the YAML parser", f->path);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &f->doc)) {
		/* yaml_parser_load has already released the half-built document. */
		const char *problem = parser.problem ? parser.problem : "invalid YAML";
		if (parser.error == YAML_READER_ERROR) {
			err_set(err, ERR_CONFIG, 0, "%s: YAML error at byte %zu: %s", f->path,
			        parser.problem_offset, problem);
		} else {
			err_set(err, ERR_CONFIG, 0, "%s:%zu:%zu: YAML syntax error: %s%s%s%s",
			        f->path, parser.problem_mark.line + 1,
			        parser.problem_mark.column + 1, problem, parser.context ? " (" : "",
			        parser.context ? parser.context : "", parser.context ? ")" : "");
		}
		yaml_parser_delete(&parser);
		memset(&f->doc, 0, sizeof(f->doc));
		return false;
	}
	yaml_parser_delete(&parser);
	f->root = yaml_document_get_root_node(&f->doc);
	if (f->root && f->root->type == YAML_SCALAR_NODE && !kubeconfig_scalar(f->root)) {
		f->root = NULL; /* a file holding only "null" or "~" is empty */
	}
	if (f->root && f->root->type != YAML_MAPPING_NODE) {
		return err_set(err, ERR_CONFIG, 0,
		               "%s: not a kubeconfig (the top level is not a mapping)", f->path);
	}
	static const char *const lists[] = {"clusters", "users", "contexts"};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		yaml_node_t *n = kubeconfig_get(f, f->root, lists[i]);
		bool null = n && n->type == YAML_SCALAR_NODE && !kubeconfig_scalar(n);
		if (n && n->type != YAML_SEQUENCE_NODE && !null) {
			return err_set(err, ERR_CONFIG, 0, "%s: '%s' is not a list", f->path,
			               lists[i]);
		}
	}
	return true;
}

static void kubeconfig_file_finish(struct kubeconfig_file *f)
{
	free(f->path);
	free(f->dir);
	yaml_document_delete(&f->doc);
	memset(f, 0, sizeof(*f));
}

static void kubeconfig_set_finish(struct kubeconfig_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		kubeconfig_file_finish(&set->files[i]);
	}
	free(set->files);
	set->files = NULL;
	set->n = 0;
}

static struct kubeconfig_file *kubeconfig_set_add(struct kubeconfig_set *set, const char *path,
                                                  const char *dir)
{
	set->files = xrealloc(set->files, (set->n + 1) * sizeof(*set->files));
	struct kubeconfig_file *f = &set->files[set->n++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	f->dir = dir ? xstrdup(dir) : NULL;
	return f;
}

/* ---- resolving one context ---- */

/* kubeconfig_pem fills *out from `data_key` (base64) or else `file_key` (a path). `what` names
 * the entry for messages ("cluster 'c'"); no data ever goes into a message. */
static bool kubeconfig_pem(const struct kubeconfig_entry *e, const char *what, const char *data_key,
                           const char *file_key, char **out, struct err *err)
{
	struct kubeconfig_file *f = e->file;
	const char *data = kubeconfig_str(f, e->body, data_key);
	if (data) {
		size_t n;
		unsigned char *pem = base64_decode(data, &n);
		if (!pem) {
			return err_set(err, ERR_CONFIG, 0, "%s: %s: %s is not valid base64",
			               f->path, what, data_key);
		}
		*out = (char *)pem;
		return true;
	}
	const char *file = kubeconfig_str(f, e->body, file_key);
	if (!file) {
		return true;
	}
	char *path = kubeconfig_abspath(f, file);
	size_t len;
	int errnum = 0;
	if (!kubeconfig_slurp(path, KUBECONFIG_MAX_REF, out, &len, &errnum)) {
		err_set(err, ERR_CONFIG, 0, "%s: %s: cannot read %s %s: %s", f->path, what,
		        file_key, path, strerror(errnum));
		free(path);
		return false;
	}
	free(path);
	return true;
}

static char **kubeconfig_strv_new(void)
{
	return xcalloc(1, sizeof(char *));
}

static void kubeconfig_strv_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static void kubeconfig_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++) {
		free(v[i]);
	}
	free(v);
}

static void kube_exec_free(struct kube_exec *x)
{
	if (!x) {
		return;
	}
	free(x->command);
	kubeconfig_strv_free(x->args);
	kubeconfig_strv_free(x->env);
	free(x->api_version);
	free(x->interactive_mode);
	free(x);
}

static bool kubeconfig_exec(const struct kubeconfig_entry *u, const char *user, yaml_node_t *node,
                            struct kube_target *out, struct err *err)
{
	struct kubeconfig_file *f = u->file;
	if (node->type != YAML_MAPPING_NODE) {
		return err_set(err, ERR_CONFIG, 0, "%s: user '%s': exec is not a mapping", f->path,
		               user);
	}
	const char *command = kubeconfig_str(f, node, "command");
	if (!command) {
		return err_set(err, ERR_CONFIG, 0, "%s: user '%s': exec has no command", f->path,
		               user);
	}
	struct kube_exec *x = xcalloc(1, sizeof(*x));
	/* As client-go: a command with a slash is a path relative to the kubeconfig; a bare name
	 * is looked up in $PATH when it runs. */
	x->command = strchr(command, '/') ? kubeconfig_abspath(f, command) : xstrdup(command);
	const char *s = kubeconfig_str(f, node, "apiVersion");
	x->api_version = s ? xstrdup(s) : NULL;
	s = kubeconfig_str(f, node, "interactiveMode");
	x->interactive_mode = s ? xstrdup(s) : NULL;

	x->args = kubeconfig_strv_new();
	size_t nargs = 0;
	yaml_node_t *args = kubeconfig_get(f, node, "args");
	if (args && args->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = args->data.sequence.items.start;
		     it < args->data.sequence.items.top; it++) {
			const char *a = kubeconfig_scalar(kubeconfig_node(f, *it));
			kubeconfig_strv_push(&x->args, &nargs, xstrdup(a ? a : ""));
		}
	}
	x->env = kubeconfig_strv_new();
	size_t nenv = 0;
	yaml_node_t *env = kubeconfig_get(f, node, "env");
	if (env && env->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = env->data.sequence.items.start;
		     it < env->data.sequence.items.top; it++) {
			yaml_node_t *pair = kubeconfig_node(f, *it);
			const char *name = kubeconfig_str(f, pair, "name");
			if (!name) {
				continue;
			}
			const char *value = kubeconfig_scalar(kubeconfig_get(f, pair, "value"));
			kubeconfig_strv_push(&x->env, &nenv,
			                     xasprintf("%s=%s", name, value ? value : ""));
		}
	}
	out->exec = x;
	return true;
}

static bool kubeconfig_user(const struct kubeconfig_entry *u, const char *user,
                            struct kube_target *out, struct err *err)
{
	struct kubeconfig_file *f = u->file;
	char what[300];
	snprintf(what, sizeof(what), "user '%s'", user);
	if (!kubeconfig_pem(u, what, "client-certificate-data", "client-certificate",
	                    &out->client_cert_pem, err) ||
	    !kubeconfig_pem(u, what, "client-key-data", "client-key", &out->client_key_pem, err)) {
		return false;
	}
	const char *token = kubeconfig_str(f, u->body, "token");
	const char *token_file = kubeconfig_str(f, u->body, "tokenFile");
	if (token_file) {
		out->token_file = kubeconfig_abspath(f, token_file);
	}
	if (token) {
		out->token = xstrdup(token); /* as client-go: an inline token beats tokenFile */
		err_secret_add(token);
	} else if (token_file) {
		char *data;
		size_t len;
		int errnum = 0;
		if (!kubeconfig_slurp(out->token_file, KUBECONFIG_MAX_REF, &data, &len, &errnum)) {
			return err_set(err, ERR_CONFIG, 0, "%s: %s: cannot read tokenFile %s: %s",
			               f->path, what, out->token_file, strerror(errnum));
		}
		str_trim(data);
		if (*data) {
			out->token = data;
			err_secret_add(data);
		} else {
			free(data);
		}
	}
	yaml_node_t *exec = kubeconfig_get(f, u->body, "exec");
	if (exec && (exec->type != YAML_SCALAR_NODE || kubeconfig_scalar(exec))) {
		return kubeconfig_exec(u, user, exec, out, err);
	}
	return true;
}

static bool kubeconfig_resolve(struct kubeconfig_set *set, const char *context,
                               struct kube_target *out, struct err *err)
{
	const char *name = context && *context ? context : NULL;
	for (size_t i = 0; !name && i < set->n; i++) {
		name = kubeconfig_str(&set->files[i], set->files[i].root, "current-context");
	}
	struct buf have;
	buf_init(&have);
	struct kubeconfig_entry ctx;
	if (!name || !kubeconfig_find(set, "contexts", "context", name, &ctx)) {
		kubeconfig_names(set, "contexts", &have);
		if (!name) {
			err_set(err, ERR_CONFIG, 0,
			        "%s: no current-context is set and no context was given (have: %s)",
			        set->label, have.data);
		} else {
			err_set(err, ERR_CONFIG, 0, "%s: context '%s' not found (have: %s)",
			        set->label, name, have.data);
		}
		buf_finish(&have);
		return false;
	}
	buf_finish(&have);

	const char *cpath = ctx.file->path;
	const char *cluster = kubeconfig_str(ctx.file, ctx.body, "cluster");
	const char *user = kubeconfig_str(ctx.file, ctx.body, "user");
	const char *ns = kubeconfig_str(ctx.file, ctx.body, "namespace");
	if (!cluster) {
		return err_set(err, ERR_CONFIG, 0, "%s: context '%s' names no cluster", cpath,
		               name);
	}
	struct kubeconfig_entry cl;
	if (!kubeconfig_find(set, "clusters", "cluster", cluster, &cl)) {
		return err_set(err, ERR_CONFIG, 0,
		               "%s: context '%s' names cluster '%s' which is not defined", cpath,
		               name, cluster);
	}
	struct kubeconfig_entry us = {NULL, NULL};
	if (user && !kubeconfig_find(set, "users", "user", user, &us)) {
		return err_set(err, ERR_CONFIG, 0,
		               "%s: context '%s' names user '%s' which is not defined", cpath, name,
		               user);
	}
	const char *server = kubeconfig_str(cl.file, cl.body, "server");
	if (!server) {
		return err_set(err, ERR_CONFIG, 0, "%s: cluster '%s' has no server", cl.file->path,
		               cluster);
	}

	out->context = xstrdup(name);
	out->cluster_name = xstrdup(cluster);
	out->path = xstrdup(cpath);
	out->namespace_ = ns ? xstrdup(ns) : NULL;
	out->server = xstrdup(server);
	for (size_t n = strlen(out->server); n > 0 && out->server[n - 1] == '/'; n--) {
		out->server[n - 1] = '\0';
	}
	out->insecure = kubeconfig_bool(cl.file, cl.body, "insecure-skip-tls-verify");
	const char *sni = kubeconfig_str(cl.file, cl.body, "tls-server-name");
	out->tls_server_name = sni ? xstrdup(sni) : NULL;
	char what[300];
	snprintf(what, sizeof(what), "cluster '%s'", cluster);
	if (!kubeconfig_pem(&cl, what, "certificate-authority-data", "certificate-authority",
	                    &out->ca_pem, err)) {
		return false;
	}
	if (us.file && !kubeconfig_user(&us, user, out, err)) {
		return false;
	}
	return true;
}

/* ---- public ---- */

void kube_target_finish(struct kube_target *t)
{
	if (!t) {
		return;
	}
	free(t->context);
	free(t->cluster_name);
	free(t->server);
	free(t->ca_pem);
	free(t->tls_server_name);
	free(t->client_cert_pem);
	free(t->client_key_pem);
	free(t->token);
	free(t->token_file);
	kube_exec_free(t->exec);
	free(t->namespace_);
	free(t->path);
	memset(t, 0, sizeof(*t));
}

static bool kubeconfig_finish_resolve(struct kubeconfig_set *set, const char *context,
                                      struct kube_target *out, struct err *err)
{
	bool ok = kubeconfig_resolve(set, context, out, err);
	if (!ok) {
		kube_target_finish(out);
	}
	kubeconfig_set_finish(set);
	return ok;
}

bool kubeconfig_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                            const char *context, struct kube_target *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	struct kubeconfig_set set = {NULL, 0, NULL};
	struct kubeconfig_file *f = kubeconfig_set_add(&set, name ? name : "kubeconfig", base_dir);
	set.label = f->path;
	if (!kubeconfig_parse(f, text, len, err)) {
		kubeconfig_set_finish(&set);
		return false;
	}
	return kubeconfig_finish_resolve(&set, context, out, err);
}

bool kubeconfig_load(const char *paths, const char *context, struct kube_target *out,
                     struct err *err)
{
	memset(out, 0, sizeof(*out));
	struct kubeconfig_set set = {NULL, 0, NULL};
	struct buf tried, label;
	buf_init(&tried);
	buf_init(&label);
	bool ok = false;
	const char *p = paths ? paths : "";
	while (*p) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *piece = xstrndup(p, n);
		p += n + (end ? 1 : 0);
		if (!*str_trim(piece)) {
			free(piece);
			continue;
		}
		char *path = path_expand(piece);
		free(piece);
		char *text;
		size_t len;
		int errnum = 0;
		if (!kubeconfig_slurp(path, KUBECONFIG_MAX_FILE, &text, &len, &errnum)) {
			if (errnum == ENOENT || errnum == ENOTDIR) {
				/* As kubectl: a listed file that does not exist is skipped. */
				buf_appendf(&tried, "%s%s", tried.len ? ", " : "", path);
				free(path);
				continue;
			}
			err_set(err, ERR_CONFIG, 0, "%s: cannot read: %s", path, strerror(errnum));
			free(path);
			goto out;
		}
		char *dir = kubeconfig_dirname(path);
		struct kubeconfig_file *f = kubeconfig_set_add(&set, path, dir);
		free(dir);
		buf_appendf(&tried, "%s%s", tried.len ? ", " : "", path);
		buf_appendf(&label, "%s%s", label.len ? ":" : "", path);
		free(path);
		bool parsed = kubeconfig_parse(f, text, len, err);
		free(text);
		if (!parsed) {
			goto out;
		}
	}
	if (set.n == 0) {
		err_set(err, ERR_CONFIG, 0, "no kubeconfig found: tried %s",
		        tried.len ? tried.data : "no path at all");
		goto out;
	}
	set.label = label.data;
	ok = kubeconfig_finish_resolve(&set, context, out, err);
out:
	kubeconfig_set_finish(&set);
	buf_finish(&tried);
	buf_finish(&label);
	return ok;
}

bool kube_exec_parse_credential(const char *body, size_t len, char **token, char **cert_pem,
                                char **key_pem, double *expiry, struct err *err)
{
	*token = *cert_pem = *key_pem = NULL;
	*expiry = 0;
	char jerr[160];
	json_t *root = json_load_body(body, len, jerr, sizeof(jerr));
	if (!root) {
		return err_set(err, ERR_MALFORMED, 0, "exec credential: not JSON (%s)", jerr);
	}
	bool ok = false;
	if (!json_is_object(root)) {
		err_set(err, ERR_MALFORMED, 0, "exec credential: not a JSON object");
		goto out;
	}
	const char *kind = json_str(root, "kind");
	if (kind && strcmp(kind, "ExecCredential") != 0) {
		err_set(err, ERR_MALFORMED, 0, "exec credential: kind is '%s', not ExecCredential",
		        kind);
		goto out;
	}
	json_t *status = json_object_get(root, "status");
	const char *tok = json_str(status, "token");
	const char *cert = json_str(status, "clientCertificateData");
	const char *key = json_str(status, "clientKeyData");
	tok = tok && *tok ? tok : NULL;
	cert = cert && *cert ? cert : NULL;
	key = key && *key ? key : NULL;
	if (!tok && !cert) {
		err_set(err, ERR_AUTH, 0, "exec plugin returned no token or client certificate");
		goto out;
	}
	if (cert && !key) {
		err_set(err, ERR_AUTH, 0,
		        "exec plugin returned a client certificate without its key");
		goto out;
	}
	const char *exp = json_str(status, "expirationTimestamp");
	double when = 0;
	if (exp && *exp && !rfc3339_parse(exp, &when)) {
		err_set(err, ERR_MALFORMED, 0,
		        "exec credential: expirationTimestamp '%.64s' is not an RFC 3339 time",
		        exp);
		goto out;
	}
	*token = tok ? xstrdup(tok) : NULL;
	err_secret_add(tok);
	*cert_pem = cert ? xstrdup(cert) : NULL;
	*key_pem = cert ? xstrdup(key) : NULL;
	*expiry = when;
	ok = true;
out:
	json_decref(root);
	return ok;
}
