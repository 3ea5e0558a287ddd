/* fuzz_config.c: the INI config loader (config_load_string, the same code config_load runs on a
 * file's text). Whatever it is given, it must either load or fail with a message, and free all of
 * it. Secrets named by K_file or K_env keys are read as usual (scripts/fuzz runs with stdin from
 * /dev/null and no controlling terminal, so no path can block). */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_support_cstr(data, size);
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	struct err err;
	memset(&err, 0, sizeof(err));
	if (!config_load_string(&cfg, "fuzz.ini", text, &err)) {
		if (err.msg[0] == '\0' || !memchr(err.msg, '\0', sizeof(err.msg))) {
			abort(); /* a failure always says what is wrong */
		}
	}
	config_finish(&cfg);
	free(text);
	/* The product loads one config per process; here every input would add its secrets to the
	 * list err_set searches, and each run would be slower than the last. */
	err_secret_clear();
	return 0;
}
