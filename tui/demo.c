/* demo.c: see demo.h. */
#include "demo.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "util.h"

/* Where labsim is: $LABDECK_LABSIM, else the source tree this binary was built from. */
static char *labsim_path(void)
{
	const char *env = getenv("LABDECK_LABSIM");
	if (env && *env) {
		return xstrdup(env);
	}
	return xstrdup(LABDECK_SOURCE_DIR "/tests/labsim/labsim.py");
}

static void remove_tree(const char *dir)
{
	pid_t pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0) {
		waitpid(pid, NULL, 0);
	}
}

int demo_run(bool readonly)
{
	char *labsim = labsim_path();
	if (access(labsim, R_OK) != 0) {
		fprintf(stderr,
		        "labdeck: --demo needs the simulated lab at %s (set LABDECK_LABSIM to its "
		        "labsim.py)\n",
		        labsim);
		free(labsim);
		return 2;
	}
	char dir[] = "/tmp/labdeck-demo-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("labdeck: mkdtemp");
		free(labsim);
		return 2;
	}
	char *state = xasprintf("%s/state.json", dir);
	char *errlog = xasprintf("%s/labsim.err", dir);
	fprintf(stderr, "labdeck: starting the simulated lab…\n");
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int err = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(null, 0);
		dup2(null, 1);
		dup2(err >= 0 ? err : null, 2);
		/* --sshd: a real sshd on loopback, so that the hosts view has a host (labsim
		 * leaves it out, saying why in labsim.err, when sshd cannot start) */
		execlp("python3", "python3", labsim, "--dir", dir, "--sshd", (char *)NULL);
		_exit(127);
	}
	int status = 2;
	bool up = false;
	for (int i = 0; pid > 0 && i < 300 && !up; i++) {
		if (access(state, R_OK) == 0) {
			up = true;
			break;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (!up) {
		fprintf(stderr, "labdeck: the simulated lab did not start (see %s)\n", errlog);
	} else {
		char *ini = xasprintf("%s/labdeck.ini", dir);
		struct config cfg;
		struct err err;
		err_clear(&err);
		if (config_load(&cfg, ini, &err)) {
			status = app_run(&cfg, readonly, 0);
			config_finish(&cfg);
		} else {
			fprintf(stderr, "labdeck: %s\n", err.msg);
		}
		free(ini);
	}
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	if (up) {
		remove_tree(dir);
	}
	free(state);
	free(errlog);
	free(labsim);
	return status;
}
