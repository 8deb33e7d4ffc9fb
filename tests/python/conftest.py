"""pytest setup for flexjit's Python tests: the package from this checkout
(when it is not installed), quiet PyTorch warnings."""
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
if os.path.join(ROOT, "python") not in sys.path:
    sys.path.insert(1, os.path.join(ROOT, "python"))

# PyTorch's eager flex_attention warns that it is not compiled, and without
# numpy or triton it says so; none of it concerns these tests.
warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
warnings.filterwarnings("ignore", message=".*Failed to initialize NumPy.*")
warnings.filterwarnings("ignore", category=FutureWarning, message=".*return_lse is deprecated.*")
