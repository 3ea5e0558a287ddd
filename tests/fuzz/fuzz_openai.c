/* fuzz_openai.c: what an OpenAI-compatible server (OpenAI, vLLM, llama.cpp) sends: a streamed
 * answer (SSE) in random pieces and error bodies (see fuzz_llm.h). */
#include "fuzz_llm.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_llm_run(LLM_OPENAI, data, size);
	return 0;
}
