// Drug-name substitution for SFT records (core/data/name_swap.h): expected strings written
// by hand from the rules in the header.
#include <catch2/catch.hpp>

#include "core/data/name_swap.h"
#include "core/util/error.h"

using namespace rexdrug;

namespace {

Example two_drug_example() {
  Example ex;
  ex.id = "ex1";
  ex.sentence = "Paclitaxel plus carboplatin was better than paclitaxel alone .";
  ex.context = "PACLITAXEL and carboplatin-based regimens; carboplatin .";
  ex.mentions = {{"Paclitaxel", 0, 10}, {"carboplatin", 16, 27}, {"paclitaxel", 44, 54}};
  ex.relations = {{"POS", {"Paclitaxel", "carboplatin"}, {0, 1}}};
  return ex;
}

}  // namespace

TEST_CASE("swap_names renames whole names without regard to case, longest first", "[core]") {
  const std::map<std::string, std::string> names = {{"cisplatin", "X"}, {"5-fu", "Y"}, {"5-fu/lv", "Z"}};
  CHECK(swap_names("Cisplatin + 5-FU: POS.", names) == "X + Y: POS.");
  CHECK(swap_names("5-FU/LV and carboplatin-cisplatin", names) == "Z and carboplatin-cisplatin");  // part of a word: kept
  CHECK(swap_names("oxcisplatin, cisplatinum, (cisplatin)", names) == "oxcisplatin, cisplatinum, (X)");
  CHECK(swap_names("", names).empty());
}

TEST_CASE("swap_example_names renames the sentence at its spans, the relations and the paragraph", "[core]") {
  const Example ex = two_drug_example();
  const std::map<std::string, std::string> names = {{"paclitaxel", "docetaxel"}, {"carboplatin", "5-FU"}};
  const Example r = swap_example_names(ex, names);
  CHECK(r.sentence == "docetaxel plus 5-FU was better than docetaxel alone .");
  REQUIRE(r.mentions.size() == 3);
  for (const Mention& m : r.mentions) CHECK(r.sentence.substr(m.start, m.end - m.start) == m.text);
  CHECK(r.mentions[1].text == "5-FU");
  CHECK(r.mentions[2].start == 36);
  CHECK(r.relations[0].drugs == std::vector<std::string>{"docetaxel", "5-FU"});
  CHECK(r.relations[0].label == "POS");
  CHECK(r.context == "docetaxel and carboplatin-based regimens; 5-FU .");
  CHECK(r.id == ex.id);

  Example no_offsets = ex;
  no_offsets.mentions[1].start = -1;
  CHECK_THROWS_AS(swap_example_names(no_offsets, names), Error);
  CHECK_THROWS_AS(swap_example_names(ex, {{"paclitaxel", "docetaxel"}}), Error);  // carboplatin has no new name
}

TEST_CASE("pick_new_names draws distinct names the example does not use, the same for a seed", "[core]") {
  const Example ex = two_drug_example();
  const std::vector<std::string> pool = {"Paclitaxel", "aspirin", "carboplatin", "docetaxel", "heparin", "warfarin"};
  const auto a = pick_new_names(ex, pool, 7, 1);
  REQUIRE(a.size() == 2);  // two drugs: paclitaxel (both spellings) and carboplatin
  REQUIRE(a.count("paclitaxel") == 1);
  REQUIRE(a.count("carboplatin") == 1);
  CHECK(a.at("paclitaxel") != a.at("carboplatin"));
  for (const auto& [k, v] : a) CHECK((name_key(v) != "paclitaxel" && name_key(v) != "carboplatin"));
  CHECK(pick_new_names(ex, pool, 7, 1) == a);
  // Another copy or seed draws again (over a few, at least one choice differs).
  bool differs = false;
  for (int copy = 2; copy <= 6; ++copy) differs |= pick_new_names(ex, pool, 7, copy) != a;
  CHECK(differs);
  // Too few names outside the example: no renaming.
  CHECK(pick_new_names(ex, {"Paclitaxel", "carboplatin", "aspirin"}, 7, 1).empty());
}
