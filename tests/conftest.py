import sys
from pathlib import Path

# The scalar reference model lives beside the tests (it is test code, not package code).
sys.path.insert(0, str(Path(__file__).resolve().parent))
