"""Make the in-repo package importable for these scripts, installed or not.

Snakemake puts this folder on sys.path for every script it runs, and Python
does the same for a script started by hand, so `import _bootstrap` works both ways.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
