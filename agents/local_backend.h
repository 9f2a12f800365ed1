// The `local` backend: a model loaded in-process through the model core (weights,
// merged LoRA adapter, tokenizer and chat template as `rexdrug serve` loads them) and
// decoded by core/generate's generate(). Requests of the loop's parallel workers are
// batched into one generate() call (serve's windowed Batcher); a generator and an
// evaluator that name the same model share one loaded copy.
#pragma once
#include <memory>

#include "agents/backend.h"
#include "core/config/config.h"

namespace rexdrug::agents {

// Reads and validates a `local:` block (keys in docs/traces.md); `seed` (the run's)
// seeds sampling when the role's sampling block gives none.
std::unique_ptr<ChatBackend> make_local_backend(const Config& block, unsigned long seed = 1);

}  // namespace rexdrug::agents
