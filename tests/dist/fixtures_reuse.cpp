// The SFT and GRPO tests' fixtures (byte-level tokenizer, tiny model config, records,
// GRPO run config), compiled into test_dist too rather than copied.
#include "tests/sft/sft_fixtures.cpp"
#include "tests/rl/grpo_fixtures.cpp"
