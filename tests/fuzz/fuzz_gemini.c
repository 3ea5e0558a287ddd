/* fuzz_gemini.c: what the Gemini API sends: a streamed answer (SSE) in random pieces and error
 * bodies (see fuzz_llm.h). */
#include "fuzz_llm.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_llm_run(LLM_GEMINI, data, size);
	return 0;
}
