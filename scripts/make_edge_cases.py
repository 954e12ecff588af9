"""Write the edge-case corpus (see vs2demo/corpus.py): python scripts/make_edge_cases.py DIR"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus import CASES, make

if __name__ == "__main__":
    paths = make(sys.argv[1] if len(sys.argv) > 1 else "edge_cases")
    for case in CASES:
        print(f"{case.name:<18} {case.expect:<7} {paths[case.name]}")
