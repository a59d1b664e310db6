"""math/: generated worked math problems (public domain: produced by this program)."""
from __future__ import annotations

import fractions
import random

from samplegen import inputs as inp
from samplegen.defects import Defects
from samplegen.writers import jsonl_bytes

NAMES = ["Ada", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Grace", "Hiro", "Ines", "Jamal", "Kai", "Lena"]
ITEMS = [("apples", 0.5), ("notebooks", 2.25), ("pencils", 0.4), ("tickets", 7.5), ("loaves of bread", 3.2)]


def arithmetic(r: random.Random) -> tuple[str, str]:
    a, b, c, d = r.randint(2, 99), r.randint(2, 99), r.randint(2, 12), r.randint(1, 50)
    p = f"Compute ({a} + {b}) * {c} - {d}."
    s = (f"First add inside the parentheses: {a} + {b} = {a + b}.\nThen multiply: {a + b} * {c} = {(a + b) * c}.\n"
         f"Finally subtract: {(a + b) * c} - {d} = {(a + b) * c - d}.\nAnswer: {(a + b) * c - d}")
    return p, s


def linear(r: random.Random) -> tuple[str, str]:
    a, x, b = r.choice([i for i in range(-9, 10) if i not in (0, 1)]), r.randint(-20, 20), r.randint(-30, 30)
    c = a * x + b
    p = f"Solve for x: {a}x {'+' if b >= 0 else '-'} {abs(b)} = {c}."
    s = (f"Subtract {b} from both sides: {a}x = {c} - ({b}) = {c - b}.\nDivide both sides by {a}: x = {c - b} / {a} = {x}.\n"
         f"Check: {a} * {x} + ({b}) = {a * x + b}.\nAnswer: x = {x}")
    return p, s


def system(r: random.Random) -> tuple[str, str]:
    x, y = r.randint(-9, 9), r.randint(-9, 9)
    a1, b1, a2, b2 = r.randint(1, 6), r.randint(1, 6), r.randint(1, 6), r.randint(-6, -1)
    c1, c2 = a1 * x + b1 * y, a2 * x + b2 * y
    det = a1 * b2 - a2 * b1
    p = f"Solve the system: {a1}x + {b1}y = {c1} and {a2}x - {abs(b2)}y = {c2}."
    s = (f"Use Cramer's rule. The determinant is {a1}*({b2}) - {a2}*{b1} = {det}.\n"
         f"x = ({c1}*({b2}) - {b1}*{c2}) / {det} = {c1 * b2 - b1 * c2} / {det} = {x}.\n"
         f"y = ({a1}*{c2} - {a2}*{c1}) / {det} = {a1 * c2 - a2 * c1} / {det} = {y}.\nAnswer: x = {x}, y = {y}")
    return p, s


def percent(r: random.Random) -> tuple[str, str]:
    price, pct = r.randint(20, 400), r.choice([5, 10, 15, 20, 25, 30, 40])
    off = fractions.Fraction(price * pct, 100)
    p = f"A jacket costs ${price}. It is discounted by {pct}%. What is the sale price?"
    s = (f"The discount is {pct}% of {price} = {price} * {pct} / 100 = {float(off):g}.\n"
         f"Sale price = {price} - {float(off):g} = {float(price - off):g}.\nAnswer: ${float(price - off):g}")
    return p, s


def word(r: random.Random) -> tuple[str, str]:
    name, (item, unit) = r.choice(NAMES), r.choice(ITEMS)
    n, m, paid = r.randint(2, 12), r.randint(1, 5), r.choice([20, 50, 100])
    cost = round(n * unit + m * unit * 2, 2)
    p = (f"{name} buys {n} {item} at ${unit:.2f} each and {m} packs of {item} that cost twice as much per pack. "
         f"{name} pays with a ${paid} bill. How much change does {name} get?")
    if cost > paid:
        s = (f"Single items: {n} * {unit:.2f} = {n * unit:.2f}. Packs: {m} * {2 * unit:.2f} = {m * 2 * unit:.2f}.\n"
             f"Total {cost:.2f} is more than {paid}, so {name} cannot pay with one ${paid} bill.\nAnswer: not enough money")
    else:
        s = (f"Single items: {n} * {unit:.2f} = {n * unit:.2f}. Packs: {m} * {2 * unit:.2f} = {m * 2 * unit:.2f}.\n"
             f"Total: {cost:.2f}. Change: {paid} - {cost:.2f} = {paid - cost:.2f}.\nAnswer: ${paid - cost:.2f}")
    return p, s


def fraction_sum(r: random.Random) -> tuple[str, str]:
    a, b = fractions.Fraction(r.randint(1, 9), r.randint(2, 12)), fractions.Fraction(r.randint(1, 9), r.randint(2, 12))
    lcd = a.denominator * b.denominator // __import__("math").gcd(a.denominator, b.denominator)
    p = f"Add the fractions {a} and {b} and simplify."
    s = (f"The least common denominator of {a.denominator} and {b.denominator} is {lcd}.\n"
         f"{a} = {a.numerator * lcd // a.denominator}/{lcd} and {b} = {b.numerator * lcd // b.denominator}/{lcd}.\n"
         f"Sum: {(a.numerator * lcd // a.denominator) + (b.numerator * lcd // b.denominator)}/{lcd} = {a + b}.\n"
         f"Answer: {a + b}")
    return p, s


def trains(r: random.Random) -> tuple[str, str]:
    v1, v2, d = r.randint(40, 90), r.randint(40, 90), r.randint(100, 600)
    t = fractions.Fraction(d, v1 + v2)
    p = (f"Two trains start {d} km apart and travel towards each other at {v1} km/h and {v2} km/h. "
         f"After how many hours do they meet?")
    s = (f"They close the gap at {v1} + {v2} = {v1 + v2} km/h.\nTime = {d} / {v1 + v2} = {t} hours "
         f"(about {float(t):.2f} h).\nAnswer: {float(t):.2f} hours")
    return p, s


KINDS = (arithmetic, linear, system, percent, word, fraction_sum, trains)


def build(ins: inp.Inputs, defects: Defects, seed: int) -> dict[str, bytes]:
    r = random.Random(f"{seed}/math")
    rows = []
    for i in range(450):
        p, s = KINDS[i % len(KINDS)](r)
        if i % 3 == 0:
            rows.append({"id": f"math-{i:05d}", "text": f"Problem: {p}\n\nSolution:\n{s}"})
        else:
            rows.append({"id": f"math-{i:05d}", "problem": p, "solution": s})
    rows.append(dict(rows[10]))
    defects.add("math_exact_duplicate", family="math", file="math/worked-00000.jsonl", line=len(rows),
                id=rows[10]["id"], of=rows[10]["id"])
    return {"math/worked-00000.jsonl": jsonl_bytes(rows)}
