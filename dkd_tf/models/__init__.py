"""Networks of DKD, one class per file; they know tensors, not datasets or training."""
from ..errors import import_tensorflow

import_tensorflow()  # before any `import keras` below us: keeps TF's start-up logs quiet
