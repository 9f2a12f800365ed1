#include "reward/synthetic.h"

#include <random>

namespace rexdrug::reward {

namespace {

const std::vector<std::string>& drug_names() {
  static const std::vector<std::string> names = {
      "cisplatin", "5-fluorouracil", "paclitaxel", "carboplatin", "gemcitabine", "oxaliplatin",
      "docetaxel", "bevacizumab", "trastuzumab", "cetuximab", "irinotecan", "capecitabine",
      "doxorubicin", "cyclophosphamide", "vincristine", "prednisone", "rituximab", "imatinib",
      "erlotinib", "gefitinib", "temozolomide", "leucovorin", "etoposide", "pemetrexed"};
  return names;
}

const char* const kFiller =
    "The sentence reports a clinical study in patients with advanced disease who received the "
    "regimen as first-line therapy, and the surrounding paragraph describes response rates, "
    "toxicity and survival outcomes observed during follow-up. ";

std::string relation_json(const std::string& type, const std::vector<std::string>& drugs, char q) {
  std::string s = "{";
  s += q; s += "type"; s += q; s += ": "; s += q; s += type; s += q; s += ", ";
  s += q; s += "ent_set"; s += q; s += ": [";
  for (size_t i = 0; i < drugs.size(); ++i) {
    if (i) s += ", ";
    s += q; s += drugs[i]; s += q;
  }
  return s + "]}";
}

}  // namespace

std::vector<SyntheticSample> synthetic_samples(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t k) { return static_cast<size_t>(rng() % k); };
  const auto& names = drug_names();
  const char* types[] = {"POS", "NEG", "COMB"};
  std::vector<SyntheticSample> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // Gold: 20% NO_COMB, else 1-2 relations of 2-3 drugs.
    std::vector<std::pair<std::string, std::vector<std::string>>> gold;
    if (pick(5) != 0) {
      size_t rels = 1 + pick(2);
      for (size_t r = 0; r < rels; ++r) {
        std::vector<std::string> drugs;
        size_t k = 2 + pick(2);
        for (size_t d = 0; d < k; ++d) drugs.push_back(names[pick(names.size())]);
        gold.emplace_back(types[pick(3)], drugs);
      }
    }
    // Prediction: the gold, perturbed.
    auto pred = gold;
    size_t variant = pick(10);
    if (variant == 0 && !pred.empty()) pred[0].second.pop_back();             // partial overlap
    if (variant == 1 && !pred.empty()) pred[0].first = types[pick(3)];        // maybe wrong type
    if (variant == 2 && !pred.empty()) pred.push_back(pred[0]);               // duplicate
    if (variant == 3) pred.clear();                                           // NO_COMB
    char q = variant == 4 ? '\'' : '"';                                       // Python quotes
    auto list = [&](const auto& rels, char quote) {
      if (rels.empty()) return "[" + relation_json("NO_COMB", {}, quote) + "]";
      std::string s = "[";
      for (size_t r = 0; r < rels.size(); ++r) s += (r ? ", " : "") + relation_json(rels[r].first, rels[r].second, quote);
      return s + "]";
    };
    std::string think = "[1] Clinical scenario: " + std::string(kFiller) +
                        "[2] Candidate drugs and regimen focus: ";
    for (const auto& rel : gold)
      for (const auto& d : rel.second) think += d + ", ";
    think += std::string("are named in the sentence. ") + kFiller +
             "[3] Combination reasoning and clinical effect: the drugs were given together and "
             "the outcome was beneficial compared with historical controls. " + kFiller +
             "[4] Extraction-oriented clinical summary: the sentence supports the answer below.";
    SyntheticSample s;
    s.completion = "<think>\n" + think + "\n</think>\n\n<answer>\n" + list(pred, q) + "\n</answer>";
    if (variant == 5) s.completion.resize(s.completion.size() - 9);  // cut </answer>
    s.solution = "<think>\n...\n</think>\n\n<answer>\n" + list(gold, '"') + "\n</answer>";
    s.sentence = "Patients received ";
    for (const auto& rel : gold)
      for (const auto& d : rel.second) s.sentence += d + " and ";
    s.sentence += "supportive care.";
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace rexdrug::reward
