// The SFT tests' fixtures (byte-level tokenizer, tiny model config) compiled into
// this binary too, so the GRPO run tests use the same ones.
#include "tests/sft/sft_fixtures.cpp"
