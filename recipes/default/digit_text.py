"""Write N seeded lines of spoken digit strings ("seven", "three oh nine" is not used:
FSDD says "zero") for synthetic voices and the LM: python digit_text.py OUT [N] [SEED]."""

import random
import sys

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = [w for w in WORDS for _ in range(3)]  # every digit alone, as FSDD speaks them
    while len(out) < n:
        out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))))
    return out[:n]


if __name__ == "__main__":
    out, n, seed = (sys.argv[1:] + ["300", "0"][len(sys.argv) - 2 :])[:3]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines(int(n), int(seed))) + "\n")
