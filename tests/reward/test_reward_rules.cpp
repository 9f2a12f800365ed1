// Unit tests for each shared rule of the published reward (reward/answer_rules.h)
// and for normalize_name's Unicode behaviour.
#include <catch2/catch.hpp>

#include "core/util/text.h"
#include "reward/answer_rules.h"
#include "reward/python_value.h"

using namespace rexdrug;
using namespace rexdrug::reward;

TEST_CASE("normalize_name matches Python's \" \".join(s.lower().split())", "[reward][text]") {
  CHECK(normalize_name("  Cis  Platin\t ") == "cis platin");
  CHECK(normalize_name("A\x1c" "B") == "a b");                  // \x1c is whitespace to str.split()
  CHECK(normalize_name("a\xc2\xa0" "b") == "a b");              // NO-BREAK SPACE
  CHECK(normalize_name("a\xe3\x80\x80" "b") == "a b");          // IDEOGRAPHIC SPACE
  CHECK(normalize_name("x\xe2\x80\x8by") == "x\xe2\x80\x8by");  // ZERO WIDTH SPACE is not whitespace
  CHECK(normalize_name("\xce\x91\xce\xa3") == "\xce\xb1\xcf\x82");  // "ΑΣ" -> "ας" (final sigma)
  CHECK(normalize_name("\xc4\xb0" "buprofen") == "i\xcc\x87" "buprofen");  // "İ" -> "i̇"
  CHECK(normalize_name("STRASSE") == "strasse");
  CHECK(normalize_name("\xce\xb1-Interferon") == "\xce\xb1-interferon");
  CHECK(normalize_name(" \t\n") == "");
}

TEST_CASE("py::upper_strip is str.upper().strip()", "[reward]") {
  CHECK(py::upper_strip(" pos ") == "POS");
  CHECK(py::upper_strip("\xc2\xa0no_comb\n") == "NO_COMB");
  CHECK(py::upper_strip("stra\xc3\x9f" "e") == "STRASSE");  // ß -> SS
  CHECK(py::upper_strip("po\xc5\xbf") == "POS");            // long s -> S
  CHECK(py::strip("\xe3\x80\x80 x \xc2\xa0") == "x");
}

TEST_CASE("find_tag: first block, contents stripped", "[reward]") {
  auto t = find_tag("a <think> x </think> <think>y</think>", "think");
  CHECK(t.found);
  CHECK(t.text == "x");
  CHECK_FALSE(find_tag("<think> no close", "think").found);
  CHECK_FALSE(find_tag("</think> <think>", "think").found);
  t = find_tag("</answer><answer>\n[1]\n</answer>", "answer");
  CHECK(t.found);
  CHECK(t.text == "[1]");
  CHECK(find_tag("<answer></answer>", "answer").found);
}

TEST_CASE("extract_list: first [ to last ], JSON then Python, else empty", "[reward]") {
  CHECK(extract_list(R"(x [{"type": "POS"}] y)").size() == 1);
  CHECK(extract_list("[{'type': 'POS', 'ent_set': ['a', 'b']}]")[0]["ent_set"][1] == "b");
  CHECK(extract_list("no list").empty());
  CHECK(extract_list("] before [").empty());
  CHECK(extract_list("[1] and [2]").empty());   // neither JSON nor Python
  CHECK(extract_list("[1], [2]").empty());      // a tuple in Python, not a list
  CHECK(extract_list("[1, 2,]").size() == 2);   // literal_eval accepts the comma
  CHECK(extract_list("[true, None]").empty());  // mixes JSON and Python spellings
  CHECK(extract_list("[NaN]").size() == 1);     // json.loads accepts NaN
}

TEST_CASE("is_no_comb", "[reward]") {
  using nlohmann::json;
  CHECK(is_no_comb(json::array()));
  CHECK(is_no_comb(json::parse(R"([{"type": "NO_COMB", "ent_set": []}])")));
  CHECK(is_no_comb(json::parse(R"([{"type": " no_comb "}])")));                    // absent ent_set
  CHECK(is_no_comb(json::parse(R"([{"type": "NO_COMB", "ent_set": null}])")));     // falsy
  CHECK(is_no_comb(json::parse(R"([{"type": "NO_COMB", "ent_set": ""}])")));
  CHECK_FALSE(is_no_comb(json::parse(R"([{"type": "NO_COMB", "ent_set": ["a"]}])")));
  CHECK_FALSE(is_no_comb(json::parse(R"([{"type": "NO_COMB", "ent_set": []}, {"type": "NO_COMB", "ent_set": []}])")));
  CHECK_FALSE(is_no_comb(json::parse(R"(["NO_COMB"])")));
  CHECK_FALSE(is_no_comb(json::parse(R"([{"type": "POS", "ent_set": []}])")));
  CHECK(is_no_comb(extract_list("[{'type': 'NO_COMB', 'ent_set': ()}]")));  // empty tuple is falsy
}

TEST_CASE("well_formed per task", "[reward]") {
  auto wf = [](const char* text, Task t) { return well_formed(extract_list(text), t); };
  CHECK(wf(R"([{"type": "POS", "ent_set": ["a", "b"]}])", Task::drugcomb));
  CHECK(wf(R"([{"type": "NO_COMB", "ent_set": []}])", Task::drugcomb));
  CHECK(wf(R"([{"type": "NO_COMB", "ent_set": ["a"]}])", Task::drugcomb));  // allowed; coverage gives -1
  CHECK(wf(R"([{"type": "POS", "ent_set": ["a", "a"]}])", Task::drugcomb));  // raw count
  CHECK(wf(R"([{"type": "POS", "ent_set": [1, null]}])", Task::drugcomb));   // entries unchecked
  CHECK_FALSE(wf("[]", Task::drugcomb));
  CHECK_FALSE(wf(R"([{"type": "POS", "ent_set": ["a"]}])", Task::drugcomb));
  CHECK_FALSE(wf(R"([{"type": "POS"}])", Task::drugcomb));
  CHECK_FALSE(wf(R"([{"ent_set": ["a", "b"]}])", Task::drugcomb));
  CHECK_FALSE(wf(R"([{"type": ["POS"], "ent_set": ["a", "b"]}])", Task::drugcomb));
  CHECK_FALSE(wf(R"([{"type": "EFFECT", "ent_set": ["a", "b"]}])", Task::drugcomb));
  CHECK(wf(R"([{"type": "effect", "ent_set": ["a", "b"]}])", Task::ddi13));
  CHECK(wf(R"([{"type": "Mechanism", "ent_set": ["a", "b"]}, {"type": "INT", "ent_set": ["a", "c"]}])", Task::ddi13));
  CHECK_FALSE(wf(R"([{"type": "POS", "ent_set": ["a", "b"]}])", Task::ddi13));
  CHECK_FALSE(wf("[{'type': 'POS', 'ent_set': {'a', 'b'}}]", Task::drugcomb));  // a set
  CHECK_FALSE(wf("[{'type': 'POS', 'ent_set': ('a', 'b')}]", Task::drugcomb));  // a tuple
  CHECK_FALSE(wf(R"([{"type": "POS", "ent_set": ["a", "b"]}, "x"])", Task::drugcomb));
}

TEST_CASE("normalized sets and relations", "[reward]") {
  auto list = extract_list(R"([{"type": "pos", "ent_set": ["B", " a ", "b", "", 3]},
                                {"type": "NO_COMB", "ent_set": ["x", "y"]},
                                {"type": "NEG", "ent_set": ["c"]},
                                {"type": "COMB", "ent_set": ["A", "B"]}])");
  auto rels = relations(list);
  REQUIRE(rels.size() == 2);
  CHECK(rels[0].first == "POS");
  CHECK(rels[0].second == DrugSet{"a", "b"});
  CHECK(rels[1].first == "COMB");
  auto sets = distinct_sets(list);
  CHECK(sets.size() == 1);  // {a, b} once
  CHECK(jaccard({"a", "b", "c"}, {"b", "c", "d"}) == Approx(0.5));
  CHECK(intersection_size({"a", "b", "c"}, {"b", "c", "d"}) == 2);
}

TEST_CASE("duplicate penalty: sorted raw lists, every copy counted", "[reward]") {
  auto pen = [](const char* text) { return duplicate_penalty(extract_list(text)); };
  CHECK(*pen(R"([{"type": "POS", "ent_set": ["a", "b"]}])") == 0.0);
  CHECK(*pen(R"([{"type": "POS", "ent_set": ["a", "b"]}, {"type": "NEG", "ent_set": ["b", "a"]}])") == 1.0);
  // 3 copies of [a, b] among 4 counted items: 3/4.
  CHECK(*pen(R"([{"type": "POS", "ent_set": ["a", "b"]}, {"type": "POS", "ent_set": ["a", "b"]},
                 {"type": "POS", "ent_set": ["a", "b"]}, {"type": "POS", "ent_set": ["c", "d"]}])") == 0.75);
  // Not normalised: "A" differs from "a".
  CHECK(*pen(R"([{"type": "POS", "ent_set": ["A", "b"]}, {"type": "POS", "ent_set": ["a", "b"]}])") == 0.0);
  // NO_COMB items and items with < 2 raw entries are not counted.
  CHECK(*pen(R"([{"type": "NO_COMB", "ent_set": ["a", "b"]}, {"type": "NO_COMB", "ent_set": ["a", "b"]},
                 {"type": "POS", "ent_set": ["a"]}, {"type": "POS", "ent_set": ["a"]}])") == 0.0);
  // Python equality: 1 == 1.0 == True.
  CHECK(*pen(R"([{"type": "POS", "ent_set": [1, 2]}, {"type": "POS", "ent_set": [2.0, true]}])") == 1.0);
  // Where Python's sorted()/hash() raise, there is no value.
  CHECK_FALSE(pen(R"([{"type": "POS", "ent_set": ["a", 1]}])").has_value());
  CHECK_FALSE(pen(R"([{"type": "POS", "ent_set": ["a", null]}])").has_value());
  CHECK_FALSE(pen(R"([{"type": "POS", "ent_set": [["a"], ["b"]]}])").has_value());
  CHECK_FALSE(pen(R"([{"type": "POS", "ent_set": [{"a": 1}, {"b": 2}]}])").has_value());
  CHECK(pen("[{'type': 'POS', 'ent_set': [('a',), ('b',)]}]").has_value());  // tuples sort and hash
}

TEST_CASE("inconsistent items (the -1 rule of coverage)", "[reward]") {
  auto inc = [](const char* text) { return inconsistent_items(extract_list(text)); };
  CHECK(inc(R"([{"type": "POS", "ent_set": []}])"));
  CHECK(inc(R"([{"type": "NO_COMB", "ent_set": ["a"]}])"));
  CHECK(inc(R"([{"type": "POS", "ent_set": "a, b"}])"));  // not a list reads as empty
  CHECK_FALSE(inc(R"([{"ent_set": []}])"));                // type "" is exempt
  CHECK_FALSE(inc(R"([{"type": "NO_COMB", "ent_set": []}, {"type": "POS", "ent_set": ["a", "b"]}])"));
}
