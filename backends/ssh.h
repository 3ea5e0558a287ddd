/* ssh.h: one command on one [ssh "name"] host over libssh2, driven by the libevent loop.
 *
 * The session is non-blocking: on LIBSSH2_ERROR_EAGAIN the run waits on its socket in the
 * directions libssh2_session_block_directions() names, so the loop never blocks on the network.
 * The steps: the address (resolve.h), a non-blocking connect, the SSH handshake, the host key
 * checked against known_hosts, the user authenticated (the identity key file, else ssh-agent),
 * one exec request carrying the command string unchanged, stdout and stderr delivered as they
 * arrive, then the remote exit status (or signal). Everything up to the exec has a timeout.
 *
 * The pure parts (fingerprints, known_hosts lines, the command string, key files) are public
 * for the unit tests. */
#ifndef LABDECK_SSH_H
#define LABDECK_SSH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"

struct event_base;
struct ssh_run;

/* What known_hosts says about the server's key. */
enum ssh_hostkey_verdict {
	SSH_HOSTKEY_NOT_CHECKED, /* the run ended before the key was seen */
	SSH_HOSTKEY_KNOWN,       /* a matching entry: go on */
	SSH_HOSTKEY_UNKNOWN,     /* no entry for this host: ask (ssh_run_accept_key) */
	SSH_HOSTKEY_CHANGED,     /* an entry with another key: refused, never asked */
	SSH_HOSTKEY_ACCEPTED,    /* was unknown, accepted and appended to known_hosts */
};

/* The server's host key as the user is shown it. */
struct ssh_hostkey {
	enum ssh_hostkey_verdict verdict;
	char type[32];          /* "ssh-ed25519" */
	char label[16];         /* "ED25519", as OpenSSH names it in "ED25519 key fingerprint" */
	char fingerprint[64];   /* "SHA256:" + base64 without padding */
	char host_pattern[300]; /* what known_hosts calls the host: "node-a" or "[10.0.0.5]:2222" */
	const char *known_hosts; /* the file (the host's config); valid while the config lives */
	int known_line; /* CHANGED: the line of the entry that differs (1-based), 0 unknown */
};

/* How a run ended. exit_status is -1 when the command did not finish (err says why, or it was
 * killed: exit_signal). */
struct ssh_result {
	bool ok; /* the command ran and the server reported how it ended */
	int exit_status;
	char exit_signal[32]; /* "TERM", "KILL" ("" when not killed) */
	struct ssh_hostkey hostkey;
	struct err err; /* !ok: ERR_UNREACHABLE/ERR_TIMEOUT/ERR_NETWORK (3), ERR_AUTH (4, also a
	                 * changed or refused host key), ERR_CONFIG (2, an unusable identity) */
};

struct ssh_callbacks {
	/* The host key is not in known_hosts: answer with ssh_run_accept_key, now or later (the
	 * run waits, its connect timeout paused). NULL: refused. */
	void (*unknown_key)(void *ud, struct ssh_run *run, const struct ssh_hostkey *key);
	/* Output as it arrives: stream 1 stdout, 2 stderr; raw bytes, not sanitised. */
	void (*output)(void *ud, int stream, const char *data, size_t len);
	/* Called once at the end; the run frees itself after it returns (forget the handle). */
	void (*done)(void *ud, const struct ssh_result *res);
	void *ud;
};

/* ssh_run_start connects to host and runs command (sent as given in one exec request). Nothing
 * is called back before the loop runs. timeout_ms bounds everything up to the exec (0: 30 s).
 * host must outlive the run. Never NULL. */
struct ssh_run *ssh_run_start(struct event_base *base, const struct config_ssh_host *host,
                              const char *command, long timeout_ms, const struct ssh_callbacks *cb);

/* ssh_run_accept_key answers unknown_key: accept appends the key to the host's known_hosts and
 * goes on; refuse ends the run (ERR_AUTH). May be called from inside unknown_key. */
void ssh_run_accept_key(struct ssh_run *run, bool accept);

/* ssh_run_cancel stops a run whose done has not run yet: the channel and the session are closed
 * (the remote command may go on running) and done is not called. NULL-safe. */
void ssh_run_cancel(struct ssh_run *run);

/* ---- pure helpers -------------------------------------------------------------------------- */

/* ssh_fingerprint_sha256 writes OpenSSH's form of a key's fingerprint, "SHA256:" followed by the
 * base64 of the SHA-256 of the key blob without '=' padding, into out (at least 64 bytes). */
void ssh_fingerprint_sha256(const unsigned char *blob, size_t len, char *out, size_t size);

/* ssh_host_pattern is what known_hosts calls host at port: "host" for 22, "[host]:port"
 * otherwise. New string. */
char *ssh_host_pattern(const char *host, int port);

/* ssh_known_hosts_line returns the 1-based line of text (a known_hosts file) holding an entry for
 * host at port with key type type ("ssh-ed25519"), plain or hashed (|1|salt|hash), skipping
 * skipping comments, @revoked and @cert-authority lines; patterns with * and ? and negated
 * ones (!pattern) as OpenSSH reads them; 0 when none. When key_b64
 * is not NULL, only an entry whose key differs from it counts (the line a changed key names). */
int ssh_known_hosts_line(const char *text, const char *host, int port, const char *type,
                         const char *key_b64);

/* ssh_known_hosts_entry is the line to append for a newly accepted key: "PATTERN TYPE BASE64\n".
 */
char *ssh_known_hosts_entry(const char *host, int port, const char *type, const unsigned char *blob,
                            size_t len);

/* ssh_join_command joins argv with single spaces, as ssh(1) does; the words are not quoted, so
 * the remote shell splits the result again. New string. */
char *ssh_join_command(int argc, char *const *argv);

/* ssh_key_is_encrypted says whether a private key file's text is passphrase-protected: an
 * OpenSSH key ("openssh-key-v1") whose cipher is not "none", or a PEM key with
 * "Proc-Type: 4,ENCRYPTED" or "BEGIN ENCRYPTED PRIVATE KEY". */
bool ssh_key_is_encrypted(const char *text);

/* ssh_signal_number maps an SSH signal name ("TERM") to its number (15); 0 when unknown. */
int ssh_signal_number(const char *name);

#endif
