"""dkd-tf: Dynamic Kernel Distillation (Nie et al., ICCV 2019) for video pose estimation."""
from .errors import quiet_libraries

quiet_libraries()
__version__ = "0.1.0"
