/*
 * libFuzzer target for the gitea webhook parser: forge_verify() and
 * forge_parse() with FORGE_GITEA, as POST /api/v1/repos/{name}/hooks/gitea meets
 * them. The input and the contract are in fuzz_forge.h; the seed corpus is
 * tests/fuzz/corpus-gitea (the payloads of tests/data/forges).
 *
 *     make fuzz FUZZ_SECONDS=300
 */
#include "fuzz_forge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_forge_one(FORGE_GITEA, data, size);
}
