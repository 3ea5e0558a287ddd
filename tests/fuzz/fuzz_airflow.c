/* fuzz_airflow.c: Airflow's answers (API v1 and v2) on the same bytes: version, token, DAG list,
 * one DAG, the last run, one run, task instances and error details. */
#include <stdlib.h>
#include <string.h>

#include "airflow.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct err err;

	int major = 0;
	airflow_parse_version(body, size, &major, &err);

	char *token = NULL;
	airflow_parse_token(body, size, &token, &err);
	free(token);

	struct airflow_dags dags = {0};
	airflow_parse_dags(body, size, &dags, &err);
	airflow_dags_finish(&dags);

	struct airflow_dag dag = {0};
	airflow_parse_dag(body, size, &dag, &err);
	airflow_dag_finish(&dag);

	char *state = NULL, *run_id = NULL, *start = NULL;
	if (airflow_parse_last_state(body, size, &state, &err)) {
		airflow_run_state_done(state);
	}
	free(state);
	state = NULL;
	airflow_parse_last_run(body, size, &state, &run_id, &start, &err);
	free(state);
	free(run_id);
	free(start);

	struct airflow_run run = {0};
	airflow_parse_run(body, size, &run, &err);
	airflow_run_finish(&run);

	struct airflow_tasks tasks = {0};
	airflow_parse_tasks(body, size, &tasks, &err);
	airflow_tasks_finish(&tasks);

	/* The detail goes into a fixed buffer: it must stay inside and end with a NUL. */
	char detail[64];
	memset(detail, 'x', sizeof(detail));
	airflow_error_detail(body, size, detail, sizeof(detail));
	if (!memchr(detail, '\0', sizeof(detail))) {
		abort();
	}
	char tiny[1] = {'x'};
	airflow_error_detail(body, size, tiny, sizeof(tiny));
	if (tiny[0] != '\0') {
		abort();
	}
	return 0;
}
