/* fuzz_github.c: GitHub Actions' answers on the same bytes: workflows, one run, a list of runs
 * (and picking the dispatched run from it), jobs with their steps, a dispatch answer, an error
 * body. */
#include <stdlib.h>

#include "fuzz_support.h"
#include "github.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct err err;

	struct github_workflow_list wf = {0};
	github_parse_workflows(body, size, &wf, &err);
	github_workflow_list_finish(&wf);

	struct github_run run = {0};
	if (github_parse_run(body, size, &run, &err)) {
		github_run_done(&run);
		github_run_ok(&run);
	}
	github_run_finish(&run);

	struct github_run_list runs = {0};
	if (github_parse_runs(body, size, &runs, &err)) {
		int64_t skip[2] = {1, 2};
		github_pick_run(&runs, "deploy.yml", "main", 1.7e9, skip, 2);
		github_pick_run(&runs, "ci.yaml", "refs/heads/main", 0, NULL, 0);
	}
	github_run_list_finish(&runs);

	struct github_job_list jobs = {0};
	github_parse_jobs(body, size, &jobs, &err);
	github_job_list_finish(&jobs);

	int64_t run_id = 0;
	github_parse_dispatch(body, size, &run_id, &err);

	char *msg = github_error_text(body, size);
	github_is_rate_limited(403, msg);
	free(msg);
	return 0;
}
