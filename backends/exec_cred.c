/* exec_cred.c: see exec_cred.h. */
#include "exec_cred.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

#define OUTPUT_CAP ((size_t)1 << 20)

struct exec_run {
	struct event_base *base;
	char *command;
	pid_t pid;
	int out_fd, err_fd;
	struct event *out_ev, *err_ev, *timer;
	struct buf out, errout;
	int64_t deadline_ms;
	int spawn_errno; /* non-zero when the plugin could not be started */
	exec_run_fn cb;
	void *ud;
};

static void run_free(struct exec_run *r)
{
	if (r->out_ev) {
		event_free(r->out_ev);
	}
	if (r->err_ev) {
		event_free(r->err_ev);
	}
	if (r->timer) {
		event_free(r->timer);
	}
	if (r->out_fd >= 0) {
		close(r->out_fd);
	}
	if (r->err_fd >= 0) {
		close(r->err_fd);
	}
	buf_finish(&r->out);
	buf_finish(&r->errout);
	free(r->command);
	free(r);
}

static void finish(struct exec_run *r, const struct err *err)
{
	exec_run_fn cb = r->cb;
	void *ud = r->ud;
	struct buf out = r->out;
	buf_init(&r->out);
	run_free(r);
	cb(ud, out.data ? out.data : "", out.len, err);
	buf_finish(&out);
}

/* The last non-empty line of the plugin's stderr, for the error message. */
static const char *last_line(struct buf *b)
{
	if (!b->data) {
		return "";
	}
	char *s = str_trim(b->data);
	char *nl = strrchr(s, '\n');
	return nl ? nl + 1 : s;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct exec_run *r = arg;
	struct err e;
	if (r->spawn_errno) {
		err_set(&e, ERR_CONFIG, 0,
		        "kubernetes: cannot run exec credential plugin '%s': %s (is it installed "
		        "and on "
		        "PATH?)",
		        r->command, strerror(r->spawn_errno));
		finish(r, &e);
		return;
	}
	int status;
	pid_t w = waitpid(r->pid, &status, WNOHANG);
	if (w == r->pid) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			finish(r, NULL);
		} else {
			err_set(&e, ERR_AUTH, 0,
			        "kubernetes: exec credential plugin '%s' failed (%s %d): %s",
			        r->command, WIFEXITED(status) ? "exit status" : "signal",
			        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			        last_line(&r->errout));
			finish(r, &e);
		}
		return;
	}
	if (now_mono_ms() >= r->deadline_ms) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, &status, 0);
		err_set(&e, ERR_TIMEOUT, 0,
		        "kubernetes: exec credential plugin '%s' did not finish in time; run it by "
		        "hand "
		        "to see why",
		        r->command);
		finish(r, &e);
		return;
	}
	struct timeval tv = {0, 20000};
	evtimer_add(r->timer, &tv);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct exec_run *r = arg;
	bool is_out = fd == r->out_fd;
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	if (n > 0) {
		struct buf *b = is_out ? &r->out : &r->errout;
		if (b->len + (size_t)n <= OUTPUT_CAP) {
			buf_append(b, chunk, (size_t)n);
		}
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	/* EOF or error: stop watching this pipe. */
	struct event **ev = is_out ? &r->out_ev : &r->err_ev;
	event_free(*ev);
	*ev = NULL;
	close(fd);
	if (is_out) {
		r->out_fd = -1;
	} else {
		r->err_fd = -1;
	}
	if (r->out_fd < 0 && r->err_fd < 0) {
		on_tick(-1, 0, r);
	}
}

struct exec_run *exec_run_start(struct event_base *base, const char *command, char *const *args,
                                char *const *env, long timeout_ms, exec_run_fn cb, void *ud)
{
	struct exec_run *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->command = xstrdup(command);
	r->cb = cb;
	r->ud = ud;
	r->out_fd = r->err_fd = -1;
	r->deadline_ms = now_mono_ms() + timeout_ms;
	buf_init(&r->out);
	buf_init(&r->errout);
	r->timer = evtimer_new(base, on_tick, r);

	size_t nargs = 0;
	while (args && args[nargs]) {
		nargs++;
	}
	char **argv = xcalloc(nargs + 2, sizeof(char *));
	argv[0] = r->command;
	for (size_t i = 0; i < nargs; i++) {
		argv[i + 1] = args[i];
	}
	size_t nenv = 0, nextra = 0;
	while (environ[nenv]) {
		nenv++;
	}
	while (env && env[nextra]) {
		nextra++;
	}
	char **envp = xcalloc(nenv + nextra + 2, sizeof(char *));
	memcpy(envp, environ, nenv * sizeof(char *));
	for (size_t i = 0; i < nextra; i++) {
		envp[nenv + i] = env[i];
	}
	/* What client-go tells a plugin: no terminal to ask questions on. */
	envp[nenv + nextra] =
	        "KUBERNETES_EXEC_INFO={\"apiVersion\":\"client.authentication.k8s.io/"
	        "v1beta1\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}";

	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	int rc = -1;
	if (pipe2(out_pipe, O_CLOEXEC) == 0 && pipe2(err_pipe, O_CLOEXEC) == 0) {
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
		posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
		rc = posix_spawnp(&r->pid, command, &fa, NULL, argv, envp);
	} else {
		rc = errno;
	}
	posix_spawn_file_actions_destroy(&fa);
	free(argv);
	free(envp);
	if (out_pipe[1] >= 0) {
		close(out_pipe[1]);
	}
	if (err_pipe[1] >= 0) {
		close(err_pipe[1]);
	}
	r->out_fd = out_pipe[0];
	r->err_fd = err_pipe[0];
	if (rc != 0) {
		if (r->out_fd >= 0) {
			close(r->out_fd);
		}
		if (r->err_fd >= 0) {
			close(r->err_fd);
		}
		r->out_fd = r->err_fd = -1;
		r->pid = -1;
		r->spawn_errno = rc;
		/* Report from the loop, never synchronously. */
		struct timeval tv = {0, 0};
		evtimer_add(r->timer, &tv);
		return r;
	}
	fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(r->err_fd, F_SETFL, O_NONBLOCK);
	r->out_ev = event_new(base, r->out_fd, EV_READ | EV_PERSIST, on_readable, r);
	r->err_ev = event_new(base, r->err_fd, EV_READ | EV_PERSIST, on_readable, r);
	event_add(r->out_ev, NULL);
	event_add(r->err_ev, NULL);
	/* The deadline is enforced even if the child keeps its pipes open. */
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(r->timer, &tv);
	return r;
}

void exec_run_cancel(struct exec_run *r)
{
	if (!r) {
		return;
	}
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
	}
	run_free(r);
}
