/* test_ssh.c: the pure parts of backends/ssh.c — the SHA-256 fingerprint in OpenSSH's form (as
 * ssh-keygen -lf prints it for the fixture key), the known_hosts entry a changed key names
 * (plain, [host]:port, hashed, wildcard and negated patterns, markers and other key types
 * skipped), the line appended for an accepted key, the command string joined as ssh(1) joins it,
 * passphrase-protected key files told apart — and runs that end before any SSH server is
 * reached: a closed port, a listener that never answers (the timeout), a server that is not SSH,
 * and a cancel that calls nothing back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ssh.h"
#include "support.h"

/* The key blob of the fixture host key (the base64 field of host_ed25519.pub). */
static unsigned char *host_blob(size_t *len, char **b64_out)
{
	char *pub = support_fixture("ssh", "host_ed25519.pub", NULL);
	char *sp = strchr(pub, ' ');
	assert_non_null(sp);
	char *b64 = sp + 1;
	b64[strcspn(b64, " \n")] = '\0';
	unsigned char *blob = base64_decode(b64, len);
	assert_non_null(blob);
	*b64_out = xstrdup(b64);
	free(pub);
	return blob;
}

static void test_fingerprint(void **state)
{
	(void)state;
	size_t len;
	char *b64;
	unsigned char *blob = host_blob(&len, &b64);
	char *want = support_fixture("ssh", "host_ed25519.sha256", NULL);
	want[strcspn(want, "\n")] = '\0';
	char fp[64];
	ssh_fingerprint_sha256(blob, len, fp, sizeof(fp));
	assert_string_equal(fp, want);
	assert_int_equal(strlen(fp), strlen("SHA256:") + 43); /* no '=' padding */
	free(want);
	free(blob);
	free(b64);
}

static void test_host_pattern(void **state)
{
	(void)state;
	char *p = ssh_host_pattern("node-a", 22);
	assert_string_equal(p, "node-a");
	free(p);
	p = ssh_host_pattern("127.0.0.1", 2222);
	assert_string_equal(p, "[127.0.0.1]:2222");
	free(p);
}

static void test_known_hosts_line(void **state)
{
	(void)state;
	size_t len;
	char *key;
	unsigned char *blob = host_blob(&len, &key);
	char *kh = support_fixture("ssh", "known_hosts", NULL);
	const char *ed = "ssh-ed25519";
	/* node-a holds this very key (line 5): no differing entry; @revoked line 4 is skipped. */
	assert_int_equal(ssh_known_hosts_line(kh, "node-a", 22, ed, key), 0);
	assert_int_equal(ssh_known_hosts_line(kh, "node-a", 22, ed, NULL), 5);
	assert_int_equal(ssh_known_hosts_line(kh, "NODE-A", 22, ed, NULL), 5);
	/* The same address on another port is another entry, [10.0.0.5]:2222 with the old key. */
	assert_int_equal(ssh_known_hosts_line(kh, "10.0.0.5", 22, ed, NULL), 5);
	assert_int_equal(ssh_known_hosts_line(kh, "10.0.0.5", 2222, ed, key), 6);
	assert_int_equal(ssh_known_hosts_line(kh, "10.0.0.5", 2223, ed, NULL), 0);
	/* Wildcards and negation. */
	assert_int_equal(ssh_known_hosts_line(kh, "web.example", 22, ed, NULL), 7);
	assert_int_equal(ssh_known_hosts_line(kh, "bad.example", 22, ed, NULL), 0);
	/* Hashed entries: node-b (line 8) and [10.0.0.7]:2222 (line 9), both the old key. */
	assert_int_equal(ssh_known_hosts_line(kh, "node-b", 22, ed, key), 8);
	assert_int_equal(ssh_known_hosts_line(kh, "10.0.0.7", 2222, ed, key), 9);
	assert_int_equal(ssh_known_hosts_line(kh, "10.0.0.7", 22, ed, NULL), 0);
	/* Another key type on line 10 is not the entry for an ed25519 key. */
	assert_int_equal(ssh_known_hosts_line(kh, "node-c", 22, ed, key), 11);
	assert_int_equal(ssh_known_hosts_line(kh, "node-c", 22, "ssh-rsa", NULL), 10);
	/* @cert-authority lines are no host's key. */
	assert_int_equal(ssh_known_hosts_line(kh, "foo.lab", 22, ed, NULL), 0);
	assert_int_equal(ssh_known_hosts_line("", "node-a", 22, ed, NULL), 0);
	free(kh);
	free(blob);
	free(key);
}

static void test_known_hosts_entry(void **state)
{
	(void)state;
	size_t len;
	char *key;
	unsigned char *blob = host_blob(&len, &key);
	char *line = ssh_known_hosts_entry("127.0.0.1", 2222, "ssh-ed25519", blob, len);
	char *want = xasprintf("[127.0.0.1]:2222 ssh-ed25519 %s\n", key);
	assert_string_equal(line, want);
	/* What was appended is found again, and is the same key. */
	assert_int_equal(ssh_known_hosts_line(line, "127.0.0.1", 2222, "ssh-ed25519", NULL), 1);
	assert_int_equal(ssh_known_hosts_line(line, "127.0.0.1", 2222, "ssh-ed25519", key), 0);
	free(line);
	free(want);
	line = ssh_known_hosts_entry("node-a", 22, "ssh-ed25519", blob, len);
	assert_true(str_has_prefix(line, "node-a ssh-ed25519 AAAA"));
	free(line);
	free(blob);
	free(key);
}

static void test_join_command(void **state)
{
	(void)state;
	char *argv[] = {"sh", "-c", "echo 'a  b'; exit 3", NULL};
	char *s = ssh_join_command(3, argv);
	assert_string_equal(s, "sh -c echo 'a  b'; exit 3");
	free(s);
	s = ssh_join_command(1, argv);
	assert_string_equal(s, "sh");
	free(s);
	s = ssh_join_command(0, argv);
	assert_string_equal(s, "");
	free(s);
}

/* An OpenSSH private key file whose header names cipher (the rest does not matter here). */
static char *openssh_key(const char *cipher)
{
	unsigned char raw[64];
	size_t n = 0;
	memcpy(raw, "openssh-key-v1", 15);
	n = 15;
	uint32_t cl = htonl((uint32_t)strlen(cipher));
	memcpy(raw + n, &cl, 4);
	n += 4;
	memcpy(raw + n, cipher, strlen(cipher));
	n += strlen(cipher);
	static const char tbl[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf b;
	buf_init(&b);
	buf_appendf(&b, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (i + 1 < n ? (unsigned)raw[i + 1] << 8 : 0) |
		             (i + 2 < n ? raw[i + 2] : 0);
		buf_appendf(&b, "%c%c%c%c", tbl[(v >> 18) & 63], tbl[(v >> 12) & 63],
		            i + 1 < n ? tbl[(v >> 6) & 63] : '=', i + 2 < n ? tbl[v & 63] : '=');
	}
	buf_appendf(&b, "\n-----END OPENSSH PRIVATE KEY-----\n");
	return buf_steal(&b);
}

static void test_key_encrypted(void **state)
{
	(void)state;
	char *k = support_fixture("ssh", "id_ed25519_passphrase", NULL);
	assert_true(ssh_key_is_encrypted(k));
	free(k);
	k = support_fixture("ssh", "id_rsa_pem_passphrase", NULL);
	assert_true(ssh_key_is_encrypted(k));
	free(k);
	k = openssh_key("none");
	assert_false(ssh_key_is_encrypted(k));
	free(k);
	k = openssh_key("aes256-ctr");
	assert_true(ssh_key_is_encrypted(k));
	free(k);
	assert_true(ssh_key_is_encrypted("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n"));
	assert_false(ssh_key_is_encrypted("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n"));
	assert_false(ssh_key_is_encrypted(""));
}

static void test_signal_number(void **state)
{
	(void)state;
	assert_int_equal(ssh_signal_number("TERM"), 15);
	assert_int_equal(ssh_signal_number("KILL"), 9);
	assert_int_equal(ssh_signal_number("INT"), 2);
	assert_int_equal(ssh_signal_number("NOPE"), 0);
}

/* ---- runs that end before SSH -------------------------------------------------------------- */

struct ended {
	bool done;
	int outputs;
	struct ssh_result res;
};

static void on_output(void *ud, int stream, const char *data, size_t len)
{
	((struct ended *)ud)->outputs++;
}

static void on_done(void *ud, const struct ssh_result *res)
{
	struct ended *e = ud;
	e->res = *res;
	e->done = true;
}

static int listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t sl = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	assert_int_equal(listen(fd, 4), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static struct config_ssh_host host_at(int port)
{
	struct config_ssh_host h = {.name = "t",
	                            .host = "127.0.0.1",
	                            .port = port,
	                            .user = "root",
	                            .known_hosts = "/nonexistent/known_hosts"};
	return h;
}

static struct ssh_run *start(struct event_base *base, struct config_ssh_host *h, long timeout_ms,
                             struct ended *e)
{
	struct ssh_callbacks cb = {.output = on_output, .done = on_done, .ud = e};
	return ssh_run_start(base, h, "true", timeout_ms, &cb);
}

static void test_refused(void **state)
{
	(void)state;
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	int port;
	int fd = listener(&port);
	close(fd); /* nothing listens there now */
	struct config_ssh_host h = host_at(port);
	struct ended e = {0};
	start(base, &h, 2000, &e);
	assert_false(e.done); /* never from inside ssh_run_start */
	SUPPORT_WAIT_FOR(base, e.done, 3000);
	assert_false(e.res.ok);
	assert_int_equal(e.res.err.code, ERR_UNREACHABLE);
	char *where = xasprintf("127.0.0.1:%d", port);
	assert_non_null(strstr(e.res.err.msg, where));
	assert_int_equal(err_exit_status(e.res.err.code), 3);
	free(where);
	support_base_free(base, tick);
}

static void test_timeout(void **state)
{
	(void)state;
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	int port;
	int fd = listener(&port); /* accepts (backlog) but never says a word */
	struct config_ssh_host h = host_at(port);
	struct ended e = {0};
	int64_t t0 = now_mono_ms();
	start(base, &h, 300, &e);
	SUPPORT_WAIT_FOR(base, e.done, 3000);
	int64_t took = now_mono_ms() - t0;
	assert_false(e.res.ok);
	assert_int_equal(e.res.err.code, ERR_TIMEOUT);
	assert_non_null(strstr(e.res.err.msg, "handshake"));
	assert_true(took >= 250 && took < 2000);
	close(fd);
	support_base_free(base, tick);
}

static void test_not_ssh(void **state)
{
	(void)state;
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	int port;
	int lfd = listener(&port);
	struct config_ssh_host h = host_at(port);
	struct ended e = {0};
	start(base, &h, 3000, &e);
	support_run_for(base, 50);
	int c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	const char *junk = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(write(c, junk, strlen(junk)), (ssize_t)strlen(junk));
	close(c);
	SUPPORT_WAIT_FOR(base, e.done, 3000);
	assert_false(e.res.ok);
	assert_int_equal(err_exit_status(e.res.err.code), 3);
	assert_non_null(strstr(e.res.err.msg, "handshake"));
	assert_int_equal(e.res.hostkey.verdict, SSH_HOSTKEY_NOT_CHECKED);
	assert_int_equal(e.outputs, 0);
	close(lfd);
	support_base_free(base, tick);
}

static void test_cancel(void **state)
{
	(void)state;
	struct event *tick;
	struct event_base *base = support_base_new(&tick);
	int port;
	int fd = listener(&port);
	struct config_ssh_host h = host_at(port);
	struct ended e = {0};
	struct ssh_run *r = start(base, &h, 300, &e);
	support_run_for(base, 50);
	ssh_run_cancel(r);
	support_run_for(base, 500); /* past the timeout: nothing may call back */
	assert_false(e.done);
	/* Cancelled before the loop ran at all. */
	r = start(base, &h, 300, &e);
	ssh_run_cancel(r);
	support_run_for(base, 100);
	assert_false(e.done);
	close(fd);
	support_base_free(base, tick);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fingerprint),      cmocka_unit_test(test_host_pattern),
	        cmocka_unit_test(test_known_hosts_line), cmocka_unit_test(test_known_hosts_entry),
	        cmocka_unit_test(test_join_command),     cmocka_unit_test(test_key_encrypted),
	        cmocka_unit_test(test_signal_number),    cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_timeout),          cmocka_unit_test(test_not_ssh),
	        cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
