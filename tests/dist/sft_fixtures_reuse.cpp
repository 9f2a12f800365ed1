// The SFT tests' fixtures (byte-level tokenizer, tiny model config, records), compiled
// into test_dist too rather than copied.
#include "tests/sft/sft_fixtures.cpp"
