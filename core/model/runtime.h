// The model runtime: the facts about running a model that every stage must decide the
// same way. Weight dtype and device (parsed in core/model/precision.h), compute precision
// (bf16 autocast or fp32), the chat template a tokenizer renders with, and the token ids
// that end an assistant reply. The SFT and GRPO trainers, the inference engine (and through
// it extraction, the server and the local agent backend) and the pipeline all call these,
// so a config means the same thing wherever it is read.
#pragma once
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/model/precision.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace rexdrug::model {

// `dtype` of a config block, checked against dtype_names(); default float32.
std::string read_dtype(const Config& block);
// The block's `compute` key, or training's older `autocast` key (not both), as a canonical
// compute name (canonical_compute); default "auto". Errors name the file and key.
std::string read_compute(const Config& block);

// The chat template names a config may give: "auto" (or "", the same) and ChatTemplate::names().
const std::vector<std::string>& chat_template_choices();
// The template a run renders with: `name` unless "auto"/""; auto is "plain" for a
// SentencePiece tokenizer (the models trained here), else the template recognised in
// tokenizer_config.json of tokenizer_dir.
ChatTemplate choose_chat_template(const std::string& name, const Tokenizer& tokenizer,
                                  const std::string& tokenizer_dir);

// The ids that end an assistant reply, each once: the end-of-turn marker of every chat
// template whose marker the vocabulary holds (<|end|>, <|eot_id|>, <|im_end|>), then eos.
// Generation stops at any of them; constrained decoding ends with one of them.
std::vector<int> end_of_reply_ids(const Tokenizer& tokenizer);
// The id that pads batch rows: the tokenizer's pad, else eos, else 0 (padded positions are
// masked out, so only its being a valid id matters).
int pad_id(const Tokenizer& tokenizer);

}  // namespace rexdrug::model
