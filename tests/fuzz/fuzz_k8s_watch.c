/* fuzz_k8s_watch.c: a pod watch stream, each line one event (k8s_parse_watch_event), as the
 * NDJSON splitter hands the lines over. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "k8s_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *end = p + size;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct k8s_watch_event ev;
		struct err err;
		memset(&ev, 0, sizeof(ev));
		if (k8s_parse_watch_event(p, len, &ev, &err)) {
			if ((ev.type == K8S_WATCH_ADDED || ev.type == K8S_WATCH_MODIFIED ||
			     ev.type == K8S_WATCH_DELETED) &&
			    !ev.pod.name) {
				abort(); /* the header promises a name for every pod event */
			}
		}
		k8s_watch_event_finish(&ev);
		if (!nl) {
			break;
		}
		p = nl + 1;
	}
	return 0;
}
