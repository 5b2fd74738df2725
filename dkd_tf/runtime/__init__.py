"""The edge runtime: the exported graphs on LiteRT or onnxruntime, one host loop.

  manifest   manifest.json: graph names and roles, checks, model files per backend
  backends   load_model(backend, path, ...): the model interface; litert.py, onnxrt.py
  graph      Graph: one model's tensors wired by role, quantisation, timing
  geometry   letterbox, integer-window crops, affine maps, heatmap warping
  region     the input region ("full" / "track") of the tracker
  smoothing  One-Euro over keypoints
  tracker    PoseTracker: the host loop (state, re-initialisation, region, decode)

Never imports TensorFlow, the models, the data pipeline or training (a phone has none of
them); a backend's package is imported only when that backend is used.
"""
from ..errors import muted_stderr  # noqa: F401  (re-exported)
from ..io_utils import sha256_file  # noqa: F401  (re-exported)
from .backends import backend_version, load_model  # noqa: F401
from .geometry import (INTERPOLATION, apply_affine, crop_window, invert_affine,  # noqa: F401
                       letterbox, letterbox_geometry, round_half_up,
                       warp_heatmaps, window_crop)
from .graph import Graph  # noqa: F401
from .litert import interpreter_api, make_interpreter  # noqa: F401
from .manifest import (BACKENDS, GRAPHS, MANIFEST_FORMAT, ROLES, check_manifest,  # noqa: F401
                       graph_files, graph_specs, load_manifest)
from .region import ROI_MODES  # noqa: F401
from .smoothing import KeypointSmoother, OneEuroParams  # noqa: F401
from .tracker import Pose, PoseTracker  # noqa: F401
