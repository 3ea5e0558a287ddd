/* test_config.c: the INI file of SPEC.md §2, as a user writes it and gets it wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "support.h"
#include "util.h"

/* A value no message may ever contain. */
#define SECRET "Zq7-SECRET-do-not-print-41f0c2"

static char *tmp_root; /* a fresh directory, also $HOME for every test */

static char *write_file(const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", tmp_root, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void mkdir_p(const char *path)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0700);
			*s = '/';
		}
	}
	mkdir(p, 0700);
	free(p);
}

static int group_setup(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/labdeck-test-config-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	tmp_root = xstrdup(tmpl);
	setenv("HOME", tmp_root, 1);
	setenv("USER", "tester", 1);
	unsetenv("OLLAMA_HOST");
	unsetenv("LABDECK_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", tmp_root);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(tmp_root);
	return 0;
}

static bool has_warning(const struct config *cfg, const char *needle)
{
	for (size_t i = 0; i < cfg->n_warnings; i++) {
		if (strstr(cfg->warnings[i], needle)) {
			return true;
		}
	}
	return false;
}

/* load parses text as "t.ini" and expects success. */
static void load(struct config *cfg, const char *text)
{
	struct err err = {0};
	bool ok = config_load_string(cfg, "t.ini", text, &err);
	if (!ok) {
		fail_msg("unexpected error: %s", err.msg);
	}
}

/* expect_error parses text as "t.ini" and expects "t.ini:LINE: ...needle...". */
static void expect_error(const char *text, int line, const char *needle)
{
	struct config cfg;
	struct err err = {0};
	assert_false(config_load_string(&cfg, "t.ini", text, &err));
	assert_int_equal(err.code, ERR_CONFIG);
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "t.ini:%d: ", line);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0 || !strstr(err.msg, needle)) {
		fail_msg("wanted '%s...%s', got '%s'", prefix, needle, err.msg);
	}
	/* A failed load leaves nothing to free. */
	assert_null(cfg.path);
	assert_int_equal(cfg.n_warnings, 0);
	config_finish(&cfg);
}

static void test_spec_example(void **state)
{
	(void)state;
	setenv("PVE_TOKEN_SECRET", "pve-" SECRET, 1);
	setenv("GEMINI_API_KEY", "gem-" SECRET, 1);
	setenv("OPENAI_API_KEY", "oai-" SECRET, 1);
	setenv("ARGOCD_AUTH_TOKEN", "argo-" SECRET, 1);
	setenv("GITHUB_TOKEN", "gh-" SECRET, 1);
	setenv("AIRFLOW_PASSWORD", "af-" SECRET, 1);
	setenv("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/" SECRET, 1);
	char *path = support_fixture_path("config", "spec_example.ini");
	struct config cfg;
	struct err err = {0};
	if (!config_load(&cfg, path, &err)) {
		fail_msg("%s", err.msg);
	}
	for (size_t i = 0; i < cfg.n_warnings; i++) {
		print_message("warning: %s\n", cfg.warnings[i]);
	}
	assert_int_equal(cfg.n_warnings, 0);
	assert_string_equal(cfg.path, path);
	char *home = tmp_root;

	assert_string_equal(cfg.ui.theme, "default");
	assert_int_equal(cfg.ui.refresh, 5);
	assert_false(cfg.ui.readonly);

	assert_true(cfg.proxmox.configured);
	assert_string_equal(cfg.proxmox.url, "https://pve.example:8006");
	assert_string_equal(cfg.proxmox.token_id, "root@pam!labdeck");
	assert_string_equal(cfg.proxmox.token_secret, "pve-" SECRET);
	assert_string_equal(cfg.proxmox.tls.fingerprint,
	                    "3B:9F:6A:0C:5D:2E:4F:71:82:93:A4:B5:C6:D7:E8:F9:"
	                    "01:12:23:34:45:56:67:78:89:9A:AB:BC:CD:DE:EF:F0");
	char *ca = xasprintf("%s/.config/labdeck/pve-ca.pem", home);
	assert_string_equal(cfg.proxmox.tls.ca_file, ca);
	free(ca);
	assert_false(cfg.proxmox.tls.insecure);

	assert_true(cfg.kubernetes.configured);
	char *kc = xasprintf("%s/.kube/config", home);
	assert_string_equal(cfg.kubernetes.kubeconfig, kc);
	free(kc);
	assert_null(cfg.kubernetes.context);    /* "context =" is not set */
	assert_null(cfg.kubernetes.namespace_); /* all namespaces */

	assert_true(cfg.ollama.configured);
	assert_string_equal(cfg.ollama.url, "http://127.0.0.1:11434");
	assert_string_equal(cfg.ollama.chat_model, "qwen2.5:14b");
	assert_string_equal(cfg.ollama.summary_model, "exaone3.5:7.8b");
	assert_string_equal(cfg.ollama.embed_model, "bge-m3");
	assert_int_equal(cfg.ollama.num_ctx, 8192);
	assert_true(isnan(cfg.ollama.temperature));
	assert_null(cfg.ollama.keep_alive);

	assert_true(cfg.gemini.configured);
	assert_string_equal(cfg.gemini.url, "https://generativelanguage.googleapis.com");
	assert_string_equal(cfg.gemini.api_key, "gem-" SECRET);
	assert_string_equal(cfg.gemini.model, "gemini-2.5-pro");
	assert_true(cfg.gemini.price_in == 1.25);
	assert_true(cfg.gemini.price_out == 10.0);

	assert_true(cfg.openai.configured);
	assert_string_equal(cfg.openai.url, "http://127.0.0.1:8080/v1");
	assert_string_equal(cfg.openai.model, "local");
	assert_string_equal(cfg.openai.api_key, "oai-" SECRET);

	assert_true(cfg.rag.configured);
	assert_string_equal(cfg.rag.postgres, "host=127.0.0.1 port=5432 dbname=lab user=lab");
	assert_string_equal(cfg.rag.table, "rag_chunks");
	assert_int_equal(cfg.rag.top_k, 5);
	assert_string_equal(cfg.rag.pipeline, "condense");

	assert_true(cfg.redis.configured);
	assert_string_equal(cfg.redis.url, "redis://127.0.0.1:6379/0");
	assert_null(cfg.redis.password);
	assert_int_equal(cfg.redis.cache_ttl, 86400);

	assert_true(cfg.argocd.configured);
	assert_string_equal(cfg.argocd.url, "https://argocd.example");
	assert_string_equal(cfg.argocd.token, "argo-" SECRET);

	assert_true(cfg.github.configured);
	assert_string_equal(cfg.github.url, "https://api.github.com");
	assert_string_equal(cfg.github.repo, "owner/name");
	assert_string_equal(cfg.github.ref, "main");
	assert_string_equal(cfg.github.token, "gh-" SECRET);

	assert_true(cfg.airflow.configured);
	assert_string_equal(cfg.airflow.url, "http://airflow.example:8080");
	assert_string_equal(cfg.airflow.username, "admin");
	assert_string_equal(cfg.airflow.password, "af-" SECRET);

	assert_int_equal(cfg.n_ssh, 1);
	assert_string_equal(cfg.ssh[0].name, "node-a");
	assert_string_equal(cfg.ssh[0].host, "node-a");
	assert_int_equal(cfg.ssh[0].port, 22);
	assert_string_equal(cfg.ssh[0].user, "root");
	char *id = xasprintf("%s/.ssh/id_ed25519", home);
	char *kh = xasprintf("%s/.ssh/known_hosts", home);
	assert_string_equal(cfg.ssh[0].identity, id);
	assert_string_equal(cfg.ssh[0].known_hosts, kh);
	free(id);
	free(kh);
	assert_int_equal(cfg.ssh[0].n_commands, 1);
	assert_string_equal(cfg.ssh[0].commands[0].name, "gpu");
	assert_string_equal(cfg.ssh[0].commands[0].command, "intel_gpu_top -l -s 1000");

	assert_true(cfg.discord.configured);
	assert_string_equal(cfg.discord.webhook_url, "https://discord.com/api/webhooks/1/" SECRET);

	assert_int_equal(cfg.topology.n_map, 1);
	assert_string_equal(cfg.topology.map[0].node, "node-a");
	assert_int_equal(cfg.topology.map[0].vmid, 101);
	assert_int_equal(cfg.topology.ollama_vmid, 102);
	assert_int_equal(cfg.n_keys, 0);

	config_finish(&cfg);
	config_finish(&cfg); /* twice is fine */
	free(path);
}

static void test_defaults_without_file(void **state)
{
	(void)state;
	unsetenv("OLLAMA_HOST");
	struct config cfg;
	struct err err = {0};
	assert_true(config_load(&cfg, NULL, &err));
	assert_null(cfg.path);
	assert_int_equal(cfg.n_warnings, 0);
	assert_string_equal(cfg.ui.theme, "default");
	assert_int_equal(cfg.ui.refresh, 5);
	assert_false(cfg.ui.readonly);
	assert_false(cfg.proxmox.configured);
	assert_null(cfg.proxmox.url);
	assert_false(cfg.kubernetes.configured);
	assert_null(cfg.kubernetes.kubeconfig);
	assert_false(cfg.ollama.configured);
	assert_string_equal(cfg.ollama.url, "http://127.0.0.1:11434");
	assert_string_equal(cfg.ollama.chat_model, "qwen2.5:14b");
	assert_string_equal(cfg.ollama.summary_model, "exaone3.5:7.8b");
	assert_string_equal(cfg.ollama.embed_model, "bge-m3");
	assert_int_equal(cfg.ollama.num_ctx, 8192);
	assert_true(isnan(cfg.ollama.temperature));
	assert_false(cfg.gemini.configured);
	assert_string_equal(cfg.gemini.url, "https://generativelanguage.googleapis.com");
	assert_string_equal(cfg.gemini.model, "gemini-2.5-pro");
	assert_true(cfg.gemini.price_in == 1.25);
	assert_true(cfg.gemini.price_out == 10.0);
	assert_null(cfg.gemini.api_key);
	assert_false(cfg.openai.configured);
	assert_false(cfg.rag.configured);
	assert_string_equal(cfg.rag.table, "rag_chunks");
	assert_int_equal(cfg.rag.top_k, 5);
	assert_string_equal(cfg.rag.pipeline, "condense");
	assert_false(cfg.redis.configured);
	assert_int_equal(cfg.redis.cache_ttl, 86400);
	assert_false(cfg.github.configured);
	assert_string_equal(cfg.github.url, "https://api.github.com");
	assert_string_equal(cfg.github.ref, "main");
	assert_false(cfg.argocd.configured);
	assert_false(cfg.airflow.configured);
	assert_false(cfg.discord.configured);
	assert_int_equal(cfg.n_ssh, 0);
	assert_int_equal(cfg.topology.n_map, 0);
	assert_int_equal(cfg.topology.ollama_vmid, -1);
	config_finish(&cfg);

	/* An empty file and an empty value behave like no file and no key. */
	load(&cfg, "");
	assert_int_equal(cfg.ui.refresh, 5);
	config_finish(&cfg);
	load(&cfg, "[ui]\nrefresh = 60\nrefresh =\ntheme =\n");
	assert_int_equal(cfg.ui.refresh, 5);
	assert_string_equal(cfg.ui.theme, "default");
	config_finish(&cfg);
}

static void ollama_host_gives(const char *env, const char *want)
{
	setenv("OLLAMA_HOST", env, 1);
	struct config cfg;
	struct err err = {0};
	assert_true(config_load(&cfg, NULL, &err));
	if (strcmp(cfg.ollama.url, want) != 0) {
		fail_msg("OLLAMA_HOST=%s: wanted %s, got %s", env, want, cfg.ollama.url);
	}
	config_finish(&cfg);
}

static void test_ollama_host(void **state)
{
	(void)state;
	/* The ollama CLI's rules (envconfig.Host). */
	ollama_host_gives("", "http://127.0.0.1:11434");
	ollama_host_gives("gpu-box", "http://gpu-box:11434");
	ollama_host_gives("10.0.0.5:9999", "http://10.0.0.5:9999");
	ollama_host_gives("http://10.0.0.5", "http://10.0.0.5:80");
	ollama_host_gives("https://ollama.example", "https://ollama.example:443");
	ollama_host_gives("https://example.com/ollama/", "https://example.com:443/ollama");
	ollama_host_gives("\"gpu-box:11500\"", "http://gpu-box:11500");
	ollama_host_gives("0.0.0.0", "http://127.0.0.1:11434");
	ollama_host_gives("[::1]:11434", "http://[::1]:11434");
	ollama_host_gives(":8000", "http://127.0.0.1:8000");

	/* The file wins over the environment. */
	setenv("OLLAMA_HOST", "gpu-box", 1);
	struct config cfg;
	load(&cfg, "[ollama]\nurl = http://other:11434/\n");
	assert_string_equal(cfg.ollama.url, "http://other:11434");
	config_finish(&cfg);
	unsetenv("OLLAMA_HOST");
}

static void test_lookup_order(void **state)
{
	(void)state;
	char *xdg = xasprintf("%s/xdg", tmp_root);
	char *xdg_file = xasprintf("%s/labdeck/config.ini", xdg);
	char *home_dir = xasprintf("%s/.config/labdeck", tmp_root);
	char *home_file = xasprintf("%s/config.ini", home_dir);

	unsetenv("LABDECK_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	assert_null(config_find(NULL)); /* no file anywhere is fine */

	mkdir_p(home_dir);
	FILE *f = fopen(home_file, "w");
	assert_non_null(f);
	fclose(f);
	char *got = config_find(NULL);
	assert_string_equal(got, home_file);
	free(got);

	/* $XDG_CONFIG_HOME is looked at first, but only when the file exists there. */
	setenv("XDG_CONFIG_HOME", xdg, 1);
	got = config_find(NULL);
	assert_string_equal(got, home_file);
	free(got);
	char *xdg_dir = xasprintf("%s/labdeck", xdg);
	mkdir_p(xdg_dir);
	f = fopen(xdg_file, "w");
	assert_non_null(f);
	fclose(f);
	got = config_find(NULL);
	assert_string_equal(got, xdg_file);
	free(got);

	/* $LABDECK_CONFIG beats both, even when it names a missing file... */
	setenv("LABDECK_CONFIG", "/nonexistent/labdeck.ini", 1);
	got = config_find(NULL);
	assert_string_equal(got, "/nonexistent/labdeck.ini");
	free(got);
	/* ...and --config beats everything. */
	got = config_find("/other/explicit.ini");
	assert_string_equal(got, "/other/explicit.ini");
	free(got);
	got = config_find("~/mine.ini");
	char *want = xasprintf("%s/mine.ini", tmp_root);
	assert_string_equal(got, want);
	free(want);
	free(got);

	unsetenv("LABDECK_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	unlink(xdg_file);
	unlink(home_file);
	free(xdg_dir);
	free(xdg);
	free(xdg_file);
	free(home_dir);
	free(home_file);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct config cfg;
	struct err err = {0};
	assert_false(config_load(&cfg, "/nonexistent/labdeck/config.ini", &err));
	assert_int_equal(err.code, ERR_CONFIG);
	assert_string_equal(err.msg, "/nonexistent/labdeck/config.ini: No such file or directory");
	config_finish(&cfg);

	assert_false(config_load(&cfg, tmp_root, &err)); /* a directory */
	assert_non_null(strstr(err.msg, "Is a directory"));
	config_finish(&cfg);
}

static void test_home_expansion(void **state)
{
	(void)state;
	struct config cfg;
	load(&cfg, "[ui]\ntheme = ~/themes/mine.theme\n"
	           "[kubernetes]\nkubeconfig = ~/k/config\n"
	           "[argocd]\nurl = https://argo\nca_file = ~/ca.pem\n"
	           "[ssh \"b\"]\nidentity = ~/.ssh/id_b\nknown_hosts = /etc/ssh/known\n");
	char *want = xasprintf("%s/themes/mine.theme", tmp_root);
	assert_string_equal(cfg.ui.theme, want);
	free(want);
	want = xasprintf("%s/k/config", tmp_root);
	assert_string_equal(cfg.kubernetes.kubeconfig, want);
	free(want);
	want = xasprintf("%s/ca.pem", tmp_root);
	assert_string_equal(cfg.argocd.tls.ca_file, want);
	free(want);
	want = xasprintf("%s/.ssh/id_b", tmp_root);
	assert_string_equal(cfg.ssh[0].identity, want);
	free(want);
	assert_string_equal(cfg.ssh[0].known_hosts, "/etc/ssh/known");
	config_finish(&cfg);
}

static void test_secret_forms(void **state)
{
	(void)state;
	struct config cfg;

	/* In the file itself (config_load_string skips the mode check). */
	load(&cfg, "[gemini]\napi_key = plain-" SECRET "\n");
	assert_string_equal(cfg.gemini.api_key, "plain-" SECRET);
	config_finish(&cfg);

	/* From the environment. */
	setenv("LD_TEST_REDIS_PW", "env-" SECRET, 1);
	load(&cfg, "[redis]\nurl = redis://r:6379/1\npassword_env = LD_TEST_REDIS_PW\n");
	assert_string_equal(cfg.redis.password, "env-" SECRET);
	assert_true(cfg.redis.configured);
	config_finish(&cfg);

	/* An unset variable: not fatal, the secret stays unset, a warning names the line. */
	unsetenv("PVE_TOKEN_SECRET");
	load(&cfg, "[proxmox]\nurl = https://pve:8006\ntoken_id = a@pam!b\n"
	           "token_secret_env = PVE_TOKEN_SECRET\n");
	assert_null(cfg.proxmox.token_secret);
	assert_true(cfg.proxmox.configured);
	assert_int_equal(cfg.n_warnings, 1);
	assert_string_equal(cfg.warnings[0], "t.ini:4: token_secret_env: environment variable "
	                                     "PVE_TOKEN_SECRET is not set");
	config_finish(&cfg);

	/* From a file: its first line, without the newline (CRLF too). */
	char *sf = write_file("gh.secret", "file-" SECRET "\r\nsecond line\n", 0600);
	char *text = xasprintf("[github]\nrepo = o/r\ntoken_file = %s\n", sf);
	load(&cfg, text);
	assert_string_equal(cfg.github.token, "file-" SECRET);
	config_finish(&cfg);
	free(text);
	/* ~/ works in _file. */
	load(&cfg, "[github]\nrepo = o/r\ntoken_file = ~/gh.secret\n");
	assert_string_equal(cfg.github.token, "file-" SECRET);
	config_finish(&cfg);

	/* A secret file others can read is refused. */
	chmod(sf, 0640);
	text = xasprintf("[github]\nrepo = o/r\n\ntoken_file = %s\n", sf);
	char *msg =
	        xasprintf("%s holds a secret and is readable by others; run chmod 600 %s", sf, sf);
	expect_error(text, 4, msg);
	free(msg);
	free(text);

	/* A missing secret file is an error with the path and the reason. */
	text = xasprintf("[airflow]\nurl = http://af\npassword_file = %s/nope\n", tmp_root);
	msg = xasprintf("password_file: cannot read %s/nope: No such file or directory", tmp_root);
	expect_error(text, 3, msg);
	free(msg);
	free(text);

	/* Two forms of the same secret. */
	expect_error("[argocd]\nurl = https://a\ntoken_env = A\n\ntoken_file = ~/gh.secret\n", 5,
	             "token is given twice in [argocd]: as token_env on line 3 and as token_file "
	             "here; keep one");
	expect_error("[discord]\nwebhook_url = https://d/x\nwebhook_url_env = D\n", 3,
	             "webhook_url is given twice");
	free(sf);
}

/* Every secret of every section goes through the same handling: the three forms give the same
 * value, a file others can read is refused, and no message repeats the secret. */
/* Which form set a secret is kept, for hints that name the key to fix. */
static void test_secret_source(void **state)
{
	(void)state;
	struct config cfg;
	load(&cfg, "[gemini]\napi_key = plain-" SECRET "\n[openai]\nurl = http://o/v1\n");
	assert_int_equal(cfg.gemini.api_key_source, CONFIG_SOURCE_PLAIN);
	assert_int_equal(cfg.openai.api_key_source, CONFIG_SOURCE_NONE);
	assert_int_equal(cfg.discord.webhook_url_source, CONFIG_SOURCE_NONE);
	config_finish(&cfg);

	setenv("LD_TEST_OAI_KEY", "env-" SECRET, 1);
	char *sf =
	        write_file("hook.secret", "https://discord.com/api/webhooks/1/" SECRET "\n", 0600);
	char *text = xasprintf("[openai]\nurl = http://o/v1\napi_key_env = LD_TEST_OAI_KEY\n"
	                       "[gemini]\napi_key_file = %s\n[discord]\nwebhook_url_file = %s\n",
	                       sf, sf);
	load(&cfg, text);
	assert_int_equal(cfg.openai.api_key_source, CONFIG_SOURCE_ENV);
	assert_int_equal(cfg.gemini.api_key_source, CONFIG_SOURCE_FILE);
	assert_int_equal(cfg.discord.webhook_url_source, CONFIG_SOURCE_FILE);
	assert_string_equal(config_source_suffix(cfg.gemini.api_key_source), "_file");
	assert_string_equal(config_source_suffix(cfg.openai.api_key_source), "_env");
	assert_string_equal(config_source_suffix(CONFIG_SOURCE_PLAIN), "");
	assert_string_equal(config_source_suffix(CONFIG_SOURCE_NONE), "");
	config_finish(&cfg);
	free(text);

	/* An unset variable leaves the key unset: no source. */
	unsetenv("LD_TEST_OAI_KEY");
	load(&cfg, "[openai]\nurl = http://o/v1\napi_key_env = LD_TEST_OAI_KEY\n");
	assert_null(cfg.openai.api_key);
	assert_int_equal(cfg.openai.api_key_source, CONFIG_SOURCE_NONE);
	config_finish(&cfg);
	unlink(sf);
	free(sf);
}

static void test_every_secret_every_form(void **state)
{
	(void)state;
	const struct {
		const char *head; /* the section and what it needs besides the secret */
		const char *key;
		size_t off; /* the char * field in struct config */
		const char *value;
	} cases[] = {
	        {"[proxmox]\nurl = https://pve:8006\ntoken_id = a@pam!b\n", "token_secret",
	         offsetof(struct config, proxmox.token_secret), "pve-" SECRET},
	        {"[gemini]\nmodel = m\n", "api_key", offsetof(struct config, gemini.api_key),
	         "gem-" SECRET},
	        {"[openai]\nurl = http://o\n", "api_key", offsetof(struct config, openai.api_key),
	         "oai-" SECRET},
	        {"[redis]\nurl = redis://r:6379/0\n", "password",
	         offsetof(struct config, redis.password), "redis-" SECRET},
	        {"[argocd]\nurl = https://argo\n", "token", offsetof(struct config, argocd.token),
	         "argo-" SECRET},
	        {"[github]\nrepo = o/r\n", "token", offsetof(struct config, github.token),
	         "gh-" SECRET},
	        {"[airflow]\nurl = http://af\n", "password",
	         offsetof(struct config, airflow.password), "af-" SECRET},
	        {"[discord]\n\n", "webhook_url", offsetof(struct config, discord.webhook_url),
	         "https://discord.com/api/webhooks/1/" SECRET},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *key = cases[i].key;
		int line = 1; /* the secret's line */
		for (const char *c = cases[i].head; *c; c++) {
			line += *c == '\n';
		}
		char *file_text = xasprintf("%s\n", cases[i].value);
		char *sf = write_file("every.secret", file_text, 0600);
		setenv("LD_TEST_EVERY_SECRET", cases[i].value, 1);
		char *texts[] = {
		        xasprintf("%s%s = %s\n", cases[i].head, key, cases[i].value),
		        xasprintf("%s%s_env = LD_TEST_EVERY_SECRET\n", cases[i].head, key),
		        xasprintf("%s%s_file = %s\n", cases[i].head, key, sf),
		};
		for (size_t f = 0; f < sizeof(texts) / sizeof(texts[0]); f++) {
			struct config cfg;
			load(&cfg, texts[f]);
			const char *got = *(char **)((char *)&cfg + cases[i].off);
			if (!got || strcmp(got, cases[i].value) != 0) {
				fail_msg("%s: %s was not read", texts[f], key);
			}
			assert_int_equal(cfg.n_warnings, 0);
			config_finish(&cfg);
			free(texts[f]);
		}

		/* Readable by others: refused on its line, naming the file, not the secret. */
		chmod(sf, 0644);
		char *text = xasprintf("%s%s_file = %s\n", cases[i].head, key, sf);
		char *msg = xasprintf("%s_file: %s holds a secret and is readable by others; run "
		                      "chmod 600 %s",
		                      key, sf, sf);
		expect_error(text, line, msg);
		struct config cfg;
		struct err err = {0};
		assert_false(config_load_string(&cfg, "t.ini", text, &err));
		assert_null(strstr(err.msg, SECRET));
		config_finish(&cfg);
		free(msg);
		free(text);

		/* Two forms at once: an error that names both, again without the secret. */
		text = xasprintf("%s%s = %s\n%s_env = LD_TEST_EVERY_SECRET\n", cases[i].head, key,
		                 cases[i].value, key);
		msg = xasprintf("%s is given twice", key);
		expect_error(text, line + 1, msg);
		assert_false(config_load_string(&cfg, "t.ini", text, &err));
		assert_null(strstr(err.msg, SECRET));
		config_finish(&cfg);
		free(msg);
		free(text);

		unlink(sf);
		free(sf);
		free(file_text);
	}
	unsetenv("LD_TEST_EVERY_SECRET");
}

static void test_file_mode(void **state)
{
	(void)state;
	struct config cfg;
	struct err err = {0};
	const char *text = "[ui]\nrefresh = 10\n[proxmox]\nurl = https://pve:8006\n"
	                   "token_id = root@pam!labdeck\ntoken_secret = " SECRET "\n";
	char *path = write_file("secret.ini", text, 0640);
	assert_false(config_load(&cfg, path, &err));
	assert_int_equal(err.code, ERR_CONFIG);
	char *want = xasprintf("%s: holds a secret (token_secret, line 6) and is readable by "
	                       "group or others; run chmod 600 %s",
	                       path, path);
	assert_string_equal(err.msg, want);
	free(want);
	assert_null(strstr(err.msg, SECRET));
	config_finish(&cfg);

	chmod(path, 0604);
	assert_false(config_load(&cfg, path, &err));
	assert_non_null(strstr(err.msg, "chmod 600"));
	config_finish(&cfg);

	chmod(path, 0600);
	assert_true(config_load(&cfg, path, &err));
	assert_string_equal(cfg.proxmox.token_secret, SECRET);
	assert_int_equal(cfg.ui.refresh, 10);
	config_finish(&cfg);
	free(path);

	/* No secret in the file (only where to find it): any mode will do. */
	path = write_file("open.ini",
	                  "[proxmox]\nurl = https://pve:8006\ntoken_id = root@pam!labdeck\n"
	                  "token_secret_env = PVE_TOKEN_SECRET\n[ui]\nrefresh = 7\n",
	                  0644);
	assert_true(config_load(&cfg, path, &err));
	assert_int_equal(cfg.ui.refresh, 7);
	config_finish(&cfg);
	free(path);

	/* An empty secret value is no secret. */
	path = write_file("empty.ini", "[gemini]\napi_key =\n", 0644);
	assert_true(config_load(&cfg, path, &err));
	assert_null(cfg.gemini.api_key);
	config_finish(&cfg);
	free(path);
}

static void test_bad_values_name_the_line(void **state)
{
	(void)state;
	expect_error("[ui]\nreadonly = maybe\n", 2,
	             "readonly must be true or false (or yes/no, on/off, 1/0), not 'maybe'");
	expect_error("[ui]\n; comment\n\nrefresh = fast\n", 4,
	             "refresh must be a whole number from 1 to 3600 (seconds), not 'fast'");
	expect_error("[ui]\nrefresh = 0\n", 2, "from 1 to 3600");
	expect_error("[ui]\nrefresh = 3601\n", 2, "from 1 to 3600");
	expect_error("[ui]\nrefresh = 5.5\n", 2, "whole number");
	expect_error("[ui]\nrefresh = 99999999999999999999999\n", 2, "whole number");
	expect_error("[ssh \"a\"]\nport = 65536\n", 2,
	             "port must be a whole number from 1 to 65535");
	expect_error("[rag]\ntop_k = 101\n", 2, "top_k must be a whole number from 1 to 100");
	expect_error("[rag]\npipeline = fancy\n", 2, "pipeline must be condense or direct");
	expect_error("[rag]\ntable = chunks; drop\n", 2, "table must be a SQL name");
	expect_error("[redis]\ncache_ttl = -1\n", 2, "cache_ttl must be a whole number >= 0");
	expect_error("[redis]\nurl = http://r:6379\n", 2,
	             "url must look like redis://HOST:PORT/DB");
	expect_error("[redis]\nurl = redis://:pw@r:6379\n", 2, "must not carry a user or password");
	expect_error("[gemini]\nprice_in = -1\n", 2, "price_in must be a number >= 0");
	expect_error("[gemini]\nprice_out = 1,5\n", 2, "price_out must be a number >= 0");
	expect_error("[ollama]\nnum_ctx = 256\n", 2, "num_ctx must be a whole number >= 512");
	expect_error("[ollama]\ntemperature = 2.5\n", 2,
	             "temperature must be a number from 0 to 2");
	expect_error("[ollama]\nkeep_alive = forever\n", 2, "keep_alive must be a duration");
	expect_error("[argocd]\nurl = argocd.example\n", 2,
	             "url must be an http:// or https:// URL with a host, not 'argocd.example'");
	expect_error("[airflow]\nurl = ftp://airflow\n", 2, "http:// or https://");
	expect_error("[airflow]\nurl = https://\n", 2, "with a host");
	expect_error("[airflow]\nurl = https://:8080/\n", 2, "with a host");
	expect_error("[airflow]\nurl = https://af:80x80\n", 2, "bad port");
	expect_error("[github]\nrepo = justname\n", 2, "repo must be OWNER/NAME");
	expect_error("[proxmox]\n\nfingerprint = AA:BB:...\n", 3,
	             "fingerprint must be 32 bytes of SHA-256 as AA:BB:..., as Proxmox shows it");
	expect_error("[proxmox]\nfingerprint = 3b9f6a0c\n", 2, "fingerprint must be 32 bytes");
	expect_error("[proxmox]\nurl = https://pve:8006\ntoken_id = root!labdeck\n", 3,
	             "token_id must look like USER@REALM!TOKENID");
	expect_error("[proxmox]\nurl = https://pve:8006\ntoken_id = root@pam\n", 3,
	             "token_id must look like USER@REALM!TOKENID");
	expect_error("[topology]\nnode-a = 99\n", 2, "node-a must be a Proxmox VMID");
	expect_error("[topology]\nollama = abc\n", 2, "ollama must be a Proxmox VMID");

	/* The first problem is the one reported. */
	expect_error("[ui]\nrefresh = 0\nreadonly = maybe\n", 2, "refresh");
}

static void test_accepted_spellings(void **state)
{
	(void)state;
	static const char *const yes[] = {"true", "TRUE", "yes", "On", "1"};
	static const char *const no[] = {"false", "No", "off", "0"};
	struct config cfg;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		char *t = xasprintf("[ui]\nreadonly = %s\n", yes[i]);
		load(&cfg, t);
		assert_true(cfg.ui.readonly);
		config_finish(&cfg);
		free(t);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		char *t = xasprintf("[ui]\nreadonly = yes\nreadonly = %s\n", no[i]);
		load(&cfg, t);
		assert_false(cfg.ui.readonly);
		config_finish(&cfg);
		free(t);
	}
	load(&cfg,
	     "[ollama]\nnum_ctx = 32768\ntemperature = 0.7\nkeep_alive = 1h30m\n"
	     "[gemini]\nprice_in = 0\nprice_out = .5\n[rag]\ntable = lab.chunks\n"
	     "pipeline = direct\n[redis]\nurl = rediss://cache.example:6380\ncache_ttl = 0\n");
	assert_int_equal(cfg.ollama.num_ctx, 32768);
	assert_true(fabs(cfg.ollama.temperature - 0.7) < 1e-12);
	assert_string_equal(cfg.ollama.keep_alive, "1h30m");
	assert_true(cfg.gemini.price_in == 0.0);
	assert_true(cfg.gemini.price_out == 0.5);
	assert_string_equal(cfg.rag.table, "lab.chunks");
	assert_string_equal(cfg.rag.pipeline, "direct");
	assert_string_equal(cfg.redis.url, "rediss://cache.example:6380");
	assert_int_equal(cfg.redis.cache_ttl, 0);
	config_finish(&cfg);
	load(&cfg, "[ollama]\nkeep_alive = -1\n");
	assert_string_equal(cfg.ollama.keep_alive, "-1");
	config_finish(&cfg);
	/* 64 hex digits without colons, and openssl's output, are normalised too. */
	load(&cfg, "[argocd]\nurl = https://a\nfingerprint = "
	           "3b9f6a0c5d2e4f718293a4b5c6d7e8f90112233445566778899aabbccddeeff0\n"
	           "[github]\nrepo = o/r\nfingerprint = sha256 Fingerprint=3B:9F:6A:0C:5D:2E:4F:"
	           "71:82:93:A4:B5:C6:D7:E8:F9:01:12:23:34:45:56:67:78:89:9A:AB:BC:CD:DE:EF:F0\n");
	const char *fp = "3B:9F:6A:0C:5D:2E:4F:71:82:93:A4:B5:C6:D7:E8:F9:"
	                 "01:12:23:34:45:56:67:78:89:9A:AB:BC:CD:DE:EF:F0";
	assert_string_equal(cfg.argocd.tls.fingerprint, fp);
	assert_string_equal(cfg.github.tls.fingerprint, fp);
	config_finish(&cfg);
}

static void test_syntax_error_line(void **state)
{
	(void)state;
	expect_error("[ui]\nrefresh = 5\n\nthis line has no equals sign\n", 4,
	             "syntax error: expected 'key = value' or '[section]'");
	expect_error("[ui\nrefresh = 5\n", 1, "syntax error");
	/* A syntax error before a bad value wins, and the other way round. */
	expect_error("[ui]\noops\nrefresh = 0\n", 2, "syntax error");
	expect_error("[ui]\nrefresh = 0\noops\n", 2, "refresh must be");
	/* An indented line is a key of its own, never a continuation of the one before. */
	expect_error("[ui]\nrefresh = 5\n    more words\n", 3, "syntax error");
	/* inih's line limit is reported, not silently split. */
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "[ssh \"a\"]\ncommand.long = ");
	for (int i = 0; i < 30; i++) {
		buf_appendf(&b, "echo %02d; ", i);
	}
	buf_appendf(&b, "\n");
	expect_error(b.data, 2, "the line is too long");
	buf_finish(&b);
}

static void test_layout(void **state)
{
	(void)state;
	struct config cfg;
	/* BOM, CRLF, git-style indentation, comments after headers and values, # comments. */
	load(&cfg, "\xEF\xBB\xBF# labdeck\r\n[openai]    ; any OpenAI-compatible server\r\n"
	           "\turl = http://127.0.0.1:8080/v1/   ; llama.cpp\r\n"
	           "\tmodel = local\r\n"
	           "   ; an indented comment\r\n"
	           "[ui]\r\n  refresh = 30 ; seconds\r\n");
	assert_int_equal(cfg.n_warnings, 0);
	assert_true(cfg.openai.configured);
	assert_string_equal(cfg.openai.url, "http://127.0.0.1:8080/v1");
	assert_string_equal(cfg.openai.model, "local");
	assert_int_equal(cfg.ui.refresh, 30);
	config_finish(&cfg);

	/* A long comment, or a long trailing comment, is not a long line. */
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "; ");
	for (int i = 0; i < 50; i++) {
		buf_appendf(&b, "blah ");
	}
	buf_appendf(&b, "\n[ui]\nrefresh = 9 ;");
	for (int i = 0; i < 50; i++) {
		buf_appendf(&b, " blah");
	}
	buf_appendf(&b, "\n");
	load(&cfg, b.data);
	assert_int_equal(cfg.ui.refresh, 9);
	config_finish(&cfg);
	buf_finish(&b);
}

static void test_unknown_keys_warn(void **state)
{
	(void)state;
	struct config cfg;
	load(&cfg, "[proxmox]\nurl = https://pve:8006\ntoken_id = a@pam!b\ntokn_id = x\n"
	           "colour = red\n[themes]\nx = 1\n[gemni]\n[ui]\nrefresh = 5\n");
	assert_int_equal(cfg.n_warnings, 4);
	assert_string_equal(
	        cfg.warnings[0],
	        "t.ini:4: unknown key 'tokn_id' in [proxmox] (did you mean 'token_id'?)");
	assert_string_equal(cfg.warnings[1], "t.ini:5: unknown key 'colour' in [proxmox]");
	assert_non_null(strstr(cfg.warnings[2], "t.ini:6: unknown section [themes]"));
	assert_string_equal(cfg.warnings[3], "t.ini:8: unknown section [gemni] (did you mean "
	                                     "[gemini]?); its keys are ignored");
	/* Nothing else was disturbed. */
	assert_string_equal(cfg.proxmox.token_id, "a@pam!b");
	assert_false(cfg.gemini.configured);
	config_finish(&cfg);

	load(&cfg, "refresh = 5\n[ui]\nrefresh = 6\nrefresh = 7\n");
	assert_int_equal(cfg.ui.refresh, 7);
	assert_true(has_warning(&cfg, "t.ini:1: 'refresh' is outside any [section]"));
	assert_true(has_warning(&cfg, "t.ini:4: 'refresh' in [ui] was already set on line 3"));
	config_finish(&cfg);

	/* A section with settings but without its required key says so. */
	load(&cfg, "[github]\ntoken_env = LD_TEST_UNSET_X\n");
	assert_false(cfg.github.configured);
	assert_true(has_warning(&cfg, "t.ini:1: [github] has no repo, so GitHub Actions stays "
	                              "unconfigured"));
	config_finish(&cfg);
}

static void test_ssh_sections(void **state)
{
	(void)state;
	struct config cfg;
	load(&cfg, "[ssh \"node-a\"]\nhost = node-a.tail1234.ts.net\nport = 2222\nuser = admin\n"
	           "command.gpu = intel_gpu_top -l -s 1000\ncommand.temps = sensors -j\n"
	           "[ssh \"node-b\"]\n"
	           "command.disk = df -h /\n"
	           "[ssh   \"node-c\"]  ; odd spacing\n");
	assert_int_equal(cfg.n_ssh, 3);
	struct config_ssh_host *a = &cfg.ssh[0], *b = &cfg.ssh[1], *c = &cfg.ssh[2];
	assert_string_equal(a->name, "node-a");
	assert_string_equal(a->host, "node-a.tail1234.ts.net");
	assert_int_equal(a->port, 2222);
	assert_string_equal(a->user, "admin");
	assert_null(a->identity);
	assert_int_equal(a->n_commands, 2);
	assert_string_equal(a->commands[0].name, "gpu");
	assert_string_equal(a->commands[0].command, "intel_gpu_top -l -s 1000");
	assert_string_equal(a->commands[1].name, "temps");
	assert_string_equal(a->commands[1].command, "sensors -j");
	/* Defaults: the section's name as host, port 22, $USER. */
	assert_string_equal(b->name, "node-b");
	assert_string_equal(b->host, "node-b");
	assert_int_equal(b->port, 22);
	assert_string_equal(b->user, "tester");
	assert_int_equal(b->n_commands, 1);
	assert_string_equal(b->commands[0].command, "df -h /");
	assert_string_equal(c->name, "node-c");
	assert_int_equal(c->n_commands, 0);
	config_finish(&cfg);

	expect_error("[ssh \"a\"]\nhost = x\n[ssh \"b\"]\n[ssh \"a\"]\n", 4,
	             "[ssh \"a\"] appears twice (first on line 1)");
	expect_error("[ssh node-a]\n", 1, "[ssh \"NAME\"]");
	expect_error("[ssh]\n", 1, "[ssh \"NAME\"]");
	expect_error("[ssh \"\"]\n", 1, "[ssh \"NAME\"]");
	expect_error("[ssh \"a\"]\nhost = two words\n", 2, "host must be one word");
}

static void test_topology_and_keys(void **state)
{
	(void)state;
	struct config cfg;
	load(&cfg, "[topology]\nnode-a = 101\nnode-b = 102\nollama = 102\n"
	           "[keys]\npods.l = logs\nnodes.s = shell\npods.ctrl-d = delete\nbad = x\n");
	assert_int_equal(cfg.topology.n_map, 2);
	assert_string_equal(cfg.topology.map[0].node, "node-a");
	assert_int_equal(cfg.topology.map[0].vmid, 101);
	assert_string_equal(cfg.topology.map[1].node, "node-b");
	assert_int_equal(cfg.topology.map[1].vmid, 102);
	assert_int_equal(cfg.topology.ollama_vmid, 102);
	assert_int_equal(cfg.n_keys, 3);
	assert_string_equal(cfg.keys[0].view, "pods");
	assert_string_equal(cfg.keys[0].key, "l");
	assert_string_equal(cfg.keys[0].action, "logs");
	assert_string_equal(cfg.keys[2].view, "pods");
	assert_string_equal(cfg.keys[2].key, "ctrl-d");
	assert_string_equal(cfg.keys[2].action, "delete");
	assert_true(has_warning(&cfg, "t.ini:9: [keys] entries are VIEW.KEY = ACTION"));
	config_finish(&cfg);
}

static void test_proxmox_url_and_token(void **state)
{
	(void)state;
	static const char *const pasted[] = {
	        "https://pve.example:8006",           "https://pve.example:8006/",
	        "https://pve.example:8006/api2/json", "https://pve.example:8006/api2/json/",
	        "HTTPS://pve.example:8006//",
	};
	struct config cfg;
	for (size_t i = 0; i < sizeof(pasted) / sizeof(pasted[0]); i++) {
		char *t =
		        xasprintf("[proxmox]\nurl = %s\ntoken_id = root@pam!labdeck\n", pasted[i]);
		load(&cfg, t);
		assert_string_equal(cfg.proxmox.url, "https://pve.example:8006");
		config_finish(&cfg);
		free(t);
	}
	load(&cfg, "[proxmox]\nurl = https://[fd00::5]:8006/api2/json\ntoken_id = u@pve!t\n");
	assert_string_equal(cfg.proxmox.url, "https://[fd00::5]:8006");
	config_finish(&cfg);

	expect_error("; lab\n[proxmox]\nurl = https://pve:8006\n", 2,
	             "[proxmox] needs token_id (USER@REALM!TOKENID)");
	/* token_id alone leaves Proxmox unconfigured, with a warning. */
	load(&cfg, "[proxmox]\ntoken_id = root@pam!labdeck\n");
	assert_false(cfg.proxmox.configured);
	assert_true(has_warning(&cfg, "[proxmox] has no url"));
	config_finish(&cfg);
}

static void test_tls_insecure(void **state)
{
	(void)state;
	struct config cfg;
	load(&cfg, "[proxmox]\nurl = https://pve:8006\ntoken_id = a@pam!b\ninsecure = true\n"
	           "[airflow]\nurl = http://af:8080\ninsecure = false\n");
	assert_true(cfg.proxmox.tls.insecure);
	assert_false(cfg.airflow.tls.insecure);
	assert_int_equal(cfg.n_warnings, 1);
	assert_string_equal(
	        cfg.warnings[0],
	        "t.ini:4: [proxmox] insecure = true: TLS certificates are not verified");
	config_finish(&cfg);

	expect_error("[argocd]\nurl = https://a\ninsecure = yes\nfingerprint = "
	             "3b9f6a0c5d2e4f718293a4b5c6d7e8f90112233445566778899aabbccddeeff0\n",
	             4, "[argocd] has both fingerprint and insecure = true");
	/* insecure belongs to HTTPS backends only. */
	load(&cfg, "[redis]\nurl = redis://r\ninsecure = true\n");
	assert_true(has_warning(&cfg, "t.ini:3: unknown key 'insecure' in [redis]"));
	config_finish(&cfg);
}

static void test_configured_flags(void **state)
{
	(void)state;
	struct config cfg;
	load(&cfg, "[kubernetes]\n[ollama]\n[gemini]\n[rag]\n[openai]\nurl = http://l:8080/v1\n"
	           "[argocd]\nurl = https://argo\n[airflow]\nurl = http://af\n"
	           "[discord]\nwebhook_url = https://discord.com/api/webhooks/1/x\n");
	assert_true(cfg.kubernetes.configured);
	assert_null(cfg.kubernetes.kubeconfig);
	assert_true(cfg.ollama.configured);
	assert_true(cfg.gemini.configured);
	assert_true(cfg.rag.configured);
	assert_null(cfg.rag.postgres);
	assert_true(cfg.openai.configured);
	assert_true(cfg.argocd.configured);
	assert_true(cfg.airflow.configured);
	assert_true(cfg.discord.configured);
	assert_false(cfg.proxmox.configured);
	assert_false(cfg.github.configured);
	assert_false(cfg.redis.configured);
	config_finish(&cfg);

	/* Discord's required key is a secret: an unset variable leaves it unconfigured. */
	unsetenv("LD_TEST_UNSET_HOOK");
	load(&cfg, "[discord]\nwebhook_url_env = LD_TEST_UNSET_HOOK\n");
	assert_false(cfg.discord.configured);
	assert_int_equal(cfg.n_warnings, 1);
	config_finish(&cfg);
}

static void assert_clean(const char *text, const char *where)
{
	if (text && strstr(text, SECRET)) {
		fail_msg("the secret leaked into %s: %s", where, text);
	}
}

/* Every way a secret could reach a message, with the secret in the wrong place. */
static void test_secret_never_in_messages(void **state)
{
	(void)state;
	setenv("LD_TEST_BAD_HOOK", "not a url " SECRET, 1);
	char *sf = write_file("hook.secret", "ftp://" SECRET "\n", 0600);
	char *open_sf = write_file("open.secret", SECRET "\n", 0644);
	char *texts[] = {
	        xstrdup("[discord]\nwebhook_url = " SECRET "\n"),
	        xstrdup("[discord]\nwebhook_url = https://user:" SECRET "@discord.com/x\n"),
	        xstrdup("[discord]\nwebhook_url_env = LD_TEST_BAD_HOOK\n"),
	        xasprintf("[discord]\nwebhook_url_file = %s\n", sf),
	        xasprintf("[gemini]\napi_key_file = %s\n", open_sf),
	        xstrdup("[proxmox]\ntoken_secret_env = " SECRET "\n"),
	        xstrdup("[proxmox]\ntoken_secret_file = " SECRET "\n"),
	        xstrdup("[proxmox]\ntoken_secret_env = Zq7SECRETdoNotPrint41f0c2\n"),
	        xstrdup("[proxmox]\ntoken_secret = " SECRET "\ntoken_secret_env = X\n"),
	        xstrdup("[github]\ntoken = " SECRET "\ntoken = " SECRET "\nrepo = bad\n"),
	        xstrdup("[redis]\nurl = redis://:" SECRET "@r:6379/0\n"),
	        xstrdup("[airflow]\npasword = " SECRET "\n"),
	};
	int n_errors = 0;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct config cfg;
		struct err err = {0};
		if (!config_load_string(&cfg, "t.ini", texts[i], &err)) {
			n_errors++;
			assert_clean(err.msg, "an error");
			assert_true(strlen(err.msg) > 0);
		}
		for (size_t j = 0; j < cfg.n_warnings; j++) {
			assert_clean(cfg.warnings[j], "a warning");
			assert_null(strstr(cfg.warnings[j], "Zq7SECRETdoNotPrint41f0c2"));
		}
		config_finish(&cfg);
		free(texts[i]);
	}
	/* All but the env name that looks like a token and the misspelt key are refused. */
	assert_int_equal(n_errors, 10);

	/* And the group-readable file refusal names the key, not the value. */
	char *path =
	        write_file("leak.ini", "[discord]\nwebhook_url = https://d/" SECRET "\n", 0644);
	struct config cfg;
	struct err err = {0};
	assert_false(config_load(&cfg, path, &err));
	assert_clean(err.msg, "the mode error");
	assert_non_null(strstr(err.msg, "(webhook_url, line 2)"));
	config_finish(&cfg);
	free(path);
	free(sf);
	free(open_sf);
}

static void test_finish_is_safe(void **state)
{
	(void)state;
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	config_finish(&cfg);
	config_finish(NULL);
	load(&cfg, "[ssh \"a\"]\ncommand.x = y\n[keys]\npods.l = logs\n[topology]\nn = 100\n");
	config_finish(&cfg);
	assert_int_equal(cfg.n_ssh, 0);
	assert_null(cfg.ssh);
	config_finish(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spec_example),
	        cmocka_unit_test(test_defaults_without_file),
	        cmocka_unit_test(test_ollama_host),
	        cmocka_unit_test(test_lookup_order),
	        cmocka_unit_test(test_missing_file),
	        cmocka_unit_test(test_home_expansion),
	        cmocka_unit_test(test_secret_forms),
	        cmocka_unit_test(test_secret_source),
	        cmocka_unit_test(test_every_secret_every_form),
	        cmocka_unit_test(test_file_mode),
	        cmocka_unit_test(test_bad_values_name_the_line),
	        cmocka_unit_test(test_accepted_spellings),
	        cmocka_unit_test(test_syntax_error_line),
	        cmocka_unit_test(test_layout),
	        cmocka_unit_test(test_unknown_keys_warn),
	        cmocka_unit_test(test_ssh_sections),
	        cmocka_unit_test(test_topology_and_keys),
	        cmocka_unit_test(test_proxmox_url_and_token),
	        cmocka_unit_test(test_tls_insecure),
	        cmocka_unit_test(test_configured_flags),
	        cmocka_unit_test(test_secret_never_in_messages),
	        cmocka_unit_test(test_finish_is_safe),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
