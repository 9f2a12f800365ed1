#include "eval/report.h"

#include <cstdio>

namespace rexdrug::eval {
namespace {

using json = nlohmann::json;

void put_prf(json& j, const std::string& suffix, const Prf& s) {
  j["f1_" + suffix] = s.f1;
  j["p_" + suffix] = s.p;
  j["r_" + suffix] = s.r;
}

std::string pct(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * x);
  return buf;
}

std::string prf_cells(const Prf& s) { return pct(s.f1) + " | " + pct(s.p) + " | " + pct(s.r); }

// "kind n, kind n" or "none".
std::string counts_text(const std::map<std::string, long>& counts) {
  std::string out;
  for (const auto& [kind, n] : counts)
    out += (out.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  return out.empty() ? "none" : out;
}

std::string drugcomb_table(const std::vector<DrugCombScores>& all) {
  std::string out = "| scorer | setting | F1 | P | R |\n|---|---|---:|---:|---:|\n";
  for (const auto& s : all) {
    out += "| " + s.scorer + " | pos / exact | " + prf_cells(s.pos_exact) + " |\n";
    out += "| " + s.scorer + " | pos / partial | " + prf_cells(s.pos_partial) + " |\n";
    out += "| " + s.scorer + " | any / exact | " + prf_cells(s.any_exact) + " |\n";
    out += "| " + s.scorer + " | any / partial | " + prf_cells(s.any_partial) + " |\n";
  }
  return out;
}

std::string ddi13_table(const std::vector<Ddi13Scores>& all) {
  std::string out = "| scorer | class | F1 | P | R | TP | FP | FN |\n"
                    "|---|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& s : all) {
    Counts total;
    for (const auto& [cls, c] : s.per_type) total += c;
    out += "| " + s.scorer + " | micro | " + prf_cells(s.micro) + " | " + std::to_string(total.tp) +
           " | " + std::to_string(total.fp) + " | " + std::to_string(total.fn) + " |\n";
    out += "| " + s.scorer + " | macro | " + pct(s.macro_f1) + " | | | | | |\n";
    for (const auto& [cls, c] : s.per_type)
      out += "| " + s.scorer + " | " + cls + " | " + prf_cells(prf_from_counts(c)) + " | " +
             std::to_string(c.tp) + " | " + std::to_string(c.fp) + " | " + std::to_string(c.fn) +
             " |\n";
  }
  return out;
}

}  // namespace

json scores_json(const DrugCombScores& s) {
  json j = json::object();
  put_prf(j, "pos_exact", s.pos_exact);
  put_prf(j, "pos_partial", s.pos_partial);
  put_prf(j, "any_exact", s.any_exact);
  put_prf(j, "any_partial", s.any_partial);
  j["errors"] = s.errors;
  j["missing"] = s.missing;
  return j;
}

json scores_json(const Ddi13Scores& s) {
  json j = json::object();
  j["micro_f1"] = s.micro.f1;
  j["micro_p"] = s.micro.p;
  j["micro_r"] = s.micro.r;
  j["macro_f1"] = s.macro_f1;
  json per_type = json::object();
  for (const auto& [cls, c] : s.per_type) {
    Prf prf = prf_from_counts(c);
    per_type[cls] = {{"f1", prf.f1}, {"p", prf.p}, {"r", prf.r},
                     {"tp", c.tp}, {"fp", c.fp}, {"fn", c.fn}};
  }
  j["per_type"] = per_type;
  j["errors"] = s.errors;
  j["missing"] = s.missing;
  return j;
}

json report_json(const EvalResult& r) {
  json scorers = json::object();
  for (const auto& s : r.drugcomb) scorers[s.scorer] = scores_json(s);
  for (const auto& s : r.ddi13) scorers[s.scorer] = scores_json(s);
  return json{{"task", task_name(r.task)},
              {"documents", r.documents},
              {"missing", r.missing_ids.size()},
              {"missing_ids", r.missing_ids},
              {"completion_status", r.completion_status},
              {"scorers", scorers}};
}

std::string report_markdown(const EvalResult& r) {
  std::string out = "## " + task_name(r.task) + ": " + std::to_string(r.documents) +
                    " documents (scores in %)\n\n";
  out += r.task == Task::drugcomb ? drugcomb_table(r.drugcomb) : ddi13_table(r.ddi13);
  // Errors do not depend on the scorer: take them from the first one.
  std::map<std::string, long> errors;
  if (!r.drugcomb.empty()) errors = r.drugcomb.front().errors;
  if (!r.ddi13.empty()) errors = r.ddi13.front().errors;
  out += "\nDropped predicted items: " + counts_text(errors) + "\n";
  if (!r.completion_status.empty())
    out += "Completion parse status: " + counts_text(r.completion_status) + "\n";
  out += "Missing predictions (scored as NO_COMB; as no answer by the DrugComb rexdrug scorer): " + std::to_string(r.missing_ids.size());
  const size_t shown = 5;
  for (size_t i = 0; i < r.missing_ids.size() && i < shown; ++i)
    out += (i ? ", " : " (") + r.missing_ids[i];
  if (r.missing_ids.size() > shown) out += ", ...";
  if (!r.missing_ids.empty()) out += ")";
  return out + "\n";
}

}  // namespace rexdrug::eval
