/* fuzz_discord.c: Discord's webhook answers on the same bytes: the posted message, a 429 body,
 * an error body; and discord_escape on the bytes as text. */
#include <stdlib.h>
#include <string.h>

#include "discord.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct err err;

	char *id = NULL;
	discord_parse_message(body, size, &id, &err);
	free(id);

	bool global = false;
	double wait = discord_parse_retry_after(body, size, -1, &global);
	if (!(wait >= 0)) {
		abort(); /* a delay to wait, never negative or NaN */
	}
	discord_parse_retry_after(body, size, 2.5, NULL);

	long code = 0;
	char msg[32];
	memset(msg, 'x', sizeof(msg));
	discord_parse_error(body, size, &code, msg, sizeof(msg));
	if (!memchr(msg, '\0', sizeof(msg))) {
		abort();
	}

	char *text = fuzz_support_cstr(data, size);
	free(discord_escape(text));
	free(text);
	return 0;
}
