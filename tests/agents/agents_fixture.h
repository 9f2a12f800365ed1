// Small hand-written DrugComb examples shared by the agents tests.
#pragma once
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/data/corpus.h"
#include "core/data/example.h"
#include "core/util/jsonl.h"

namespace rexdrug::test {

// An example whose mentions are the first occurrences of `drugs` in the sentence
// and whose relations name drugs by their index in `drugs`.
inline Example make_example(const std::string& id, const std::string& sentence,
                            const std::string& context, const std::vector<std::string>& drugs,
                            const std::vector<std::pair<std::string, std::vector<int>>>& rels) {
  Example ex;
  ex.id = id;
  ex.task = Task::drugcomb;
  ex.sentence = sentence;
  ex.context = context;
  for (const std::string& d : drugs) {
    size_t at = sentence.find(d);
    ex.mentions.push_back({d, long(at), long(at + d.size())});
  }
  for (const auto& [label, ids] : rels) {
    Relation r;
    r.label = label;
    for (int i : ids) {
      r.drugs.push_back(drugs[i]);
      r.span_ids.push_back(i);
    }
    ex.relations.push_back(r);
  }
  return ex;
}

// Six examples: POS, NO_COMB ("or"), NEG, COMB, a one-drug sentence, and a NEG
// sentence without any harm word (the heuristic judge rejects it on soundness).
inline std::vector<Example> fixture_examples() {
  const std::string p1 = "Cisplatin and gemcitabine in lung cancer. ";
  return {
      make_example("pos1",
                   "Patients received cisplatin in combination with gemcitabine , which "
                   "improved overall survival .",
                   p1 + "Patients received cisplatin in combination with gemcitabine , which "
                        "improved overall survival . Toxicity was mild.",
                   {"cisplatin", "gemcitabine"}, {{"POS", {0, 1}}}),
      make_example("alt1", "Patients were treated with either aspirin or clopidogrel after stenting .",
                   "Antiplatelet therapy after stenting. Patients were treated with either "
                   "aspirin or clopidogrel after stenting .",
                   {"aspirin", "clopidogrel"}, {}),
      make_example("neg1", "Adding warfarin to aspirin increased the risk of major bleeding .",
                   "Anticoagulants in the elderly. Adding warfarin to aspirin increased the "
                   "risk of major bleeding .",
                   {"warfarin", "aspirin"}, {{"NEG", {0, 1}}}),
      make_example("comb1", "The regimen consisted of doxorubicin plus cyclophosphamide every 21 days .",
                   "Adjuvant chemotherapy of breast cancer. The regimen consisted of "
                   "doxorubicin plus cyclophosphamide every 21 days .",
                   {"doxorubicin", "cyclophosphamide"}, {{"COMB", {0, 1}}}),
      make_example("one1", "Metformin lowered fasting glucose in 40 patients .",
                   "Metformin in type 2 diabetes. Metformin lowered fasting glucose in 40 patients .",
                   {"Metformin"}, {}),
      make_example("nocue1", "Patients on lithium were also given haloperidol .",
                   "Antipsychotics in mania. Patients on lithium were also given haloperidol .",
                   {"lithium", "haloperidol"}, {{"NEG", {0, 1}}}),
  };
}

// Writes examples as examples.jsonl (the project's own corpus format).
inline void write_examples(const std::string& path, const std::vector<Example>& examples) {
  std::string text;
  for (const Example& ex : examples) text += example_to_json(ex).dump() + "\n";
  write_file_atomic(path, text);
}

inline std::string source_dir() {
  const char* s = std::getenv("REXDRUG_SOURCE_DIR");
  return s ? s : ".";
}

// A traces config over `corpus` writing into `out`, heuristic unless changed by `extra`
// (more YAML lines appended at the top level).
inline std::string traces_yaml(const std::string& corpus, const std::string& out,
                               const std::string& generator = "backend: heuristic",
                               const std::string& evaluator = "backend: heuristic",
                               const std::string& extra = "") {
  const std::string p = source_dir() + "/configs/prompts/";
  return "seed: 1\n"
         "data: {task: drugcomb, path: '" + corpus + "'}\n"
         "generator: {" + generator + ", system_prompt: '" + p + "generator_system.txt'" +
         // A test may give its own user_prompt (duplicate YAML keys are refused).
         (generator.find("user_prompt") == std::string::npos
              ? ", user_prompt: '" + p + "generator_user.txt'" : std::string()) + "}\n"
         "evaluator: {" + evaluator + ", system_prompt: '" + p + "evaluator_system.txt', "
         "user_prompt: '" + p + "evaluator_user.txt'}\n"
         "output: {dir: '" + out + "'}\n" + extra;
}

}  // namespace rexdrug::test
