// Pretraining text comes from any corpus the data stage reads, whatever its task.
#include <catch2/catch.hpp>

#include <fstream>

#include "sft/dataset.h"
#include "tests/test_util.h"

using namespace rexdrug;

TEST_CASE("read_documents takes DDI13 sentences as well as DrugComb paragraphs", "[sft][data]") {
  std::string dir = test::scratch_dir("read_documents_ddi13");
  std::string path = dir + "/train.jsonl";
  {
    std::ofstream f(path);
    f << R"({"id": 1, "context": "Aspirin may increase the effect of warfarin .", )"
         R"("entities": [{"entity": "Aspirin", "category": "drug"}, {"entity": "warfarin", "category": "drug"}], )"
         R"("relations": [{"type": "effect", "ent_sets": ["Aspirin", "warfarin"]}]})" "\n";
    f << R"({"id": 2, "context": "No interaction was seen .", "entities": [], "relations": []})" "\n";
    // The same sentence twice is one document.
    f << R"({"id": 3, "context": "No interaction was seen .", "entities": [], "relations": []})" "\n";
  }
  std::vector<std::string> docs = sft::read_documents(path);
  REQUIRE(docs.size() == 2);
  CHECK(docs[0] == "Aspirin may increase the effect of warfarin .");
  CHECK(docs[1] == "No interaction was seen .");
}
