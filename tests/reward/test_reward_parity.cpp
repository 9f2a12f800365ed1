// Parity test: the four published components against an independent Python
// implementation of the same rules (it uses Python's own json.loads,
// ast.literal_eval, sorted and Counter, so parsing quirks are Python's) on
// randomly generated adversarial completions, both tasks, to 1e-9.
// The script is embedded so the test needs nothing but /usr/bin/python3.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/util/jsonl.h"
#include "reward/reward_function.h"
#include "tests/test_util.h"

using namespace rexdrug;
using namespace rexdrug::reward;

namespace {

const char* kParityScript = R"PY(# Parity reference for the C++ reward (tests/reward/test_reward_parity.cpp):
# random adversarial completions, scored by an independent implementation of
# the published rules on top of Python's own json.loads / ast.literal_eval /
# sorted / Counter. Usage: python3 parity.py TASK N SEED OUT.jsonl
import json, random, sys
# Independent Python reference of the reward rules (written from the issue
# text and the published semantics), used to cross-check the C++ module.
import ast, re
from collections import Counter

def strip_tag(text, tag):
    m = re.search('<%s>(.*?)</%s>' % (tag, tag), text, re.DOTALL)
    return (True, m.group(1).strip()) if m else (False, "")

def extract(text):
    text = text.strip()
    m = re.search(r'\[.*\]', text, re.DOTALL)
    if not m: return []
    for f in (json.loads, ast.literal_eval):
        try:
            r = f(m.group(0))
            if isinstance(r, list): return r
        except Exception:
            pass
    return []

def typ(item): return str(item.get("type", "")).upper().strip()
def es(item):
    e = item.get("ent_set", [])
    return e if isinstance(e, list) else []
def norm(n): return " ".join(n.lower().split()) if isinstance(n, str) else ""
def nset(e): return tuple(sorted({norm(x) for x in e if isinstance(x, str) and norm(x)}))

VALID = {"drugcomb": {"POS","NEG","COMB","NO_COMB"}, "ddi13": {"EFFECT","ADVISE","INT","MECHANISM","NO_COMB"}}

def nocomb(l):
    if not l: return True
    if len(l) == 1 and isinstance(l[0], dict) and typ(l[0]) == "NO_COMB":
        e = l[0].get("ent_set", [])
        return not e
    return False

def wf(l, task):
    if not l: return False
    for it in l:
        if not isinstance(it, dict): return False
        t = typ(it)
        if t not in VALID[task]: return False
        e = it.get("ent_set")
        if not isinstance(e, list): return False
        if t != "NO_COMB" and len(e) < 2: return False
    return True

def rels(l):
    out = []
    for it in l:
        if isinstance(it, dict) and typ(it) != "NO_COMB":
            s = nset(es(it))
            if len(s) >= 2: out.append((typ(it), s))
    return out

def dup(l):
    keys = [tuple(sorted(es(it))) for it in l if isinstance(it, dict) and typ(it) != "NO_COMB" and len(es(it)) >= 2]
    if not keys: return 0.0
    c = Counter(keys)
    return sum(v for v in c.values() if v > 1) / len(keys)

def jac(a, b):
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else 0.0

def score(comp, sol, task):
    ht, think = strip_tag(comp, "think")
    ha, ans = strip_tag(comp, "answer")
    pred = extract(ans) if ha else []
    gold = extract(strip_tag(sol, "answer")[1])
    fmt = 0.0 if not (ht and ha) else (1.0 if wf(pred, task) else 0.5)
    styles = [["[1]","[2]","[3]","[4]"],["1.","2.","3.","4."],["1、","2、","3、","4、"],["1)","2)","3)","4)"],["(1)","(2)","(3)","(4)"],["第一","第二","第三","第四"],["首先","其次","然后","最后"]]
    th = 1.0 if ht and any(all(m in think for m in st) for st in styles) else 0.0
    ok = ha and ans and wf(pred, task)
    # coverage
    def coverage():
        if not ok: return 0.0
        for it in pred:
            if not isinstance(it, dict): continue
            t = typ(it); has = len(es(it)) > 0
            if t != "NO_COMB" and t != "" and not has: return -1.0
            if t == "NO_COMB" and has: return -1.0
        pn, gn = nocomb(pred), nocomb(gold)
        if pn and gn: return 1.0
        if gn: return 0.0
        if pn: return -1.0
        gs = sorted(set(s for _, s in rels(gold))); ps = sorted(set(s for _, s in rels(pred)))
        if not gs or not ps: return 0.0
        if task == "drugcomb":
            base = sum(max([jac(g, p) for p in ps if len(set(g) & set(p)) >= 2] or [0.0]) for g in gs) / len(gs)
        else:
            base = sum(1 for g in gs if g in ps) / len(gs)
        try:
            pen = dup(pred)
        except Exception:
            return 0.0
        return max(base - pen, -1.0)
    def accuracy():
        if not ok: return 0.0
        pn, gn = nocomb(pred), nocomb(gold)
        if pn and gn: return 1.0
        if pn != gn: return 0.0
        g, p = rels(gold), rels(pred)
        if not g or not p: return 0.0
        if task == "ddi13":
            g, p = set(g), set(p)
            tp = len(g & p); fp = len(p - g); fn = len(g - p)
            pr = tp / (tp + fp) if tp + fp else 0.0; rc = tp / (tp + fn) if tp + fn else 0.0
            return 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        def mb(a, b, exact):
            tot = 0.0
            for at, aset in a:
                best = 0.0
                for bt, bset in b:
                    if at != bt: continue
                    if exact:
                        if jac(aset, bset) >= 0.9999: best = 1.0; break
                    elif len(set(aset) & set(bset)) >= 2:
                        best = max(best, jac(aset, bset))
                tot += best
            return tot / len(a)
        def f1(x, y): return 2 * x * y / (x + y) if x + y > 0 else 0.0
        return 0.33 * f1(mb(p, g, False), mb(g, p, False)) + 0.67 * f1(mb(p, g, True), mb(g, p, True))
    return {"format": fmt, "think": th, "coverage": coverage(), "accuracy": accuracy()}


task = sys.argv[1]; n = int(sys.argv[2]); rnd = random.Random(int(sys.argv[3]))
types = ["POS","NEG","COMB","NO_COMB"] if task == "drugcomb" else ["EFFECT","ADVISE","INT","MECHANISM","NO_COMB"]
drugs = ["A","B","C","D","cisplatin","Cisplatin"," cis  platin ","5-FU","İbuprofen","ibuprofen","ΑΣ","straße","STRASSE","a\u00a0b","a b","x\u200by"]
def rand_name():
    r = rnd.random()
    if r < 0.85: return rnd.choice(drugs)
    return rnd.choice([None, 1, 2.5, True, ["A"], {"k": 1}, ("A","B"), "", "  "])
def rand_typ():
    r = rnd.random()
    t = rnd.choice(types)
    if r < 0.6: return t
    if r < 0.8: return rnd.choice([t.lower(), " " + t + " ", t.capitalize(), "\u00a0" + t])
    return rnd.choice(["SYNERGY", None, 3, "", ["POS"], "poſ", "ınt", "no_comb", "No_Comb"])
def rand_ent_set():
    r = rnd.random()
    if r < 0.75: return [rand_name() for _ in range(rnd.choice([0,1,2,2,2,3,3,4]))]
    return rnd.choice([None, "A, B", ("A","B"), {"A","B"}, [], 5])
def rand_item():
    r = rnd.random()
    if r < 0.85:
        d = {}
        if rnd.random() < 0.95: d["type"] = rand_typ()
        if rnd.random() < 0.93: d["ent_set"] = rand_ent_set()
        return d
    return rnd.choice(["A", ["A","B"], None, 1])
def pylit(v):
    # Python repr with some variety
    return repr(v)
def to_text(lst):
    r = rnd.random()
    try:
        if r < 0.5: return json.dumps(lst, ensure_ascii=rnd.random() < 0.5)
    except TypeError:
        pass
    if r < 0.85: return pylit(lst)
    s = pylit(lst)
    return rnd.choice([s[:-1] + ",]" if s.endswith("]") and len(s) > 2 else s, s.replace("'", '"'), s + " and [1]", "Answer: " + s + " done", s.replace("[", "(", 1), s + ", []", s.replace("None", "null"), s.replace(",", ",\n"), s[:len(s)//2], "[NaN, " + s + "]"])
def rand_answer():
    r = rnd.random()
    if r < 0.15: return [{"type": "NO_COMB", "ent_set": []}]
    return [rand_item() for _ in range(rnd.choice([0,1,1,1,2,2,3]))]
def rand_gold():
    if rnd.random() < 0.25: return [{"type": "NO_COMB", "ent_set": []}]
    out = []
    for _ in range(rnd.choice([1,1,2,3])):
        k = 2 if task == "ddi13" else rnd.choice([2,2,3])
        out.append({"type": rnd.choice(types[:-1]), "ent_set": rnd.sample(drugs[:10], k)})
    return out
thinks = ["[1] a [2] b [3] c [4] d", "1. a 2. b 3. c", "(1) a (2) b (3) c (4) d", "首先 其次 然后 最后", "第一 第二 第三", "1、2、3、4、", "no markers", "1) 2) 3) 4)", ""]
rows = []
for i in range(n):
    g = rand_gold()
    a = rand_answer() if rnd.random() < 0.3 else [dict(x) for x in g]
    if rnd.random() < 0.8:
        for x in a:
            if not isinstance(x, dict) or not isinstance(x.get("ent_set"), list): continue
            r2 = rnd.random()
            e = list(x["ent_set"])
            if r2 < 0.3 and len(e) > 2: e.pop(rnd.randrange(len(e)))
            elif r2 < 0.6: e.append(rnd.choice(drugs[:10]))
            elif r2 < 0.8: x["type"] = rnd.choice(types[:-1])
            x["ent_set"] = e
        if rnd.random() < 0.3: a.append({"type": rnd.choice(types[:-1]), "ent_set": rnd.sample(drugs[:10], rnd.choice([2,3,4]))})
    if rnd.random() < 0.2 and a: a.append(dict(a[0]) if isinstance(a[0], dict) else a[0])
    th = rnd.choice(thinks)
    at = to_text(a)
    r = rnd.random()
    if r < 0.8: comp = "<think>\n" + th + "\n</think>\n\n<answer>\n" + at + "\n</answer>"
    elif r < 0.85: comp = "<answer>" + at + "</answer>"
    elif r < 0.9: comp = "<think>" + th + "</think>" + at
    elif r < 0.95: comp = "<think>" + th + "<answer>" + at + "</answer></think>"
    else: comp = at
    sol = "<think>\n...\n</think>\n\n<answer>\n" + (json.dumps(g) if rnd.random() < 0.7 else repr(g)) + "\n</answer>"
    if rnd.random() < 0.03: sol = json.dumps(g)
    rows.append((comp, sol))

with open(sys.argv[4], "w", encoding="utf-8") as f:
    for comp, sol in rows:
        r = score(comp, sol, task)
        r.update({"completion": comp, "solution": sol})
        f.write(json.dumps(r) + "\n")
)PY";

void check_parity(const std::string& task, int n, int seed) {
  if (access("/usr/bin/python3", X_OK) != 0) {
    WARN("no /usr/bin/python3: parity test skipped");
    return;
  }
  std::string dir = test::scratch_dir("reward_parity_" + task);
  std::string script = dir + "/parity.py", out = dir + "/expected.jsonl";
  std::ofstream(script) << kParityScript;
  std::string cmd = "/usr/bin/python3 " + script + " " + task + " " + std::to_string(n) + " " +
                    std::to_string(seed) + " " + out;
  REQUIRE(std::system(cmd.c_str()) == 0);
  RewardFunction rf = RewardFunction::from_yaml(YAML::Load(
      "task: " + task +
      "\ncomponents: [{name: format, weight: 1}, {name: think, weight: 1},"
      " {name: coverage, weight: 1}, {name: accuracy, weight: 1}]"));
  auto rows = read_jsonl(out);
  REQUIRE(rows.size() == static_cast<size_t>(n));
  int mismatches = 0;
  const char* names[] = {"format", "think", "coverage", "accuracy"};
  for (const auto& row : rows) {
    RewardResult r = rf.score(row["completion"].get<std::string>(), row["solution"].get<std::string>());
    for (int k = 0; k < 4; ++k) {
      double want = row[names[k]].get<double>();
      if (std::abs(r.values[k] - want) > 1e-9) {
        ++mismatches;
        if (mismatches <= 5)
          FAIL_CHECK(names[k] << ": got " << r.values[k] << ", Python " << want << "\ncompletion: "
                              << row["completion"].get<std::string>()
                              << "\nsolution: " << row["solution"].get<std::string>());
      }
    }
  }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("parity with the Python reference: DrugComb", "[reward][parity]") {
  check_parity("drugcomb", 3000, 11);
}

TEST_CASE("parity with the Python reference: DDI13", "[reward][parity]") {
  check_parity("ddi13", 2000, 12);
}
