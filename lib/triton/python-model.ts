/**
 * The model.py that `--backend python` writes beside each ONNX file: ONNX Runtime on the CPU inside
 * Triton's python backend. The same file serves every component; what differs is read from the
 * model's config (its ONNX file, whether Triton batches it). It is what CI runs: the pip wheel's
 * tritonserver has the python backend only.
 */
/**
 * What every generated model.py starts with: its imports, with the folders named by
 * HRSEG_TRITON_PYTHONPATH put first on sys.path. One string, so that the stateless models and the
 * stateful decoder (kv.ts) cannot drift apart in how they find onnxruntime.
 */
export const PYTHON_PREAMBLE = `import json
import os
import sys
import time
from collections import OrderedDict

# The python backend's embedded interpreter ignores PYTHONPATH; a venv holding onnxruntime is
# named by HRSEG_TRITON_PYTHONPATH instead (scripts/triton/install.sh writes it into env.sh).
for extra in reversed(os.environ.get("HRSEG_TRITON_PYTHONPATH", "").split(os.pathsep)):
    if extra and extra not in sys.path:
        sys.path.insert(0, extra)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


def onnx_session(args, params):
    """The model's ONNX file on ONNX Runtime's CPU provider."""
    here = os.path.join(args["model_repository"], args["model_version"])
    options = ort.SessionOptions()
    # Several instances and models share the server's cores; one pool each would oversubscribe them.
    options.intra_op_num_threads = int(os.environ.get("HRSEG_TRITON_THREADS", "0"))
    return ort.InferenceSession(os.path.join(here, params["onnx_file"]), options, providers=["CPUExecutionProvider"])


def model_params(config):
    return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
`;

export const PYTHON_MODEL = `# Written by hrseg export-triton: runs this model's ONNX file with ONNX Runtime on the CPU.
${PYTHON_PREAMBLE}

class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.session = onnx_session(args, model_params(config))
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]
        self.batched = config.get("max_batch_size", 0) > 0

    def execute(self, requests):
        if self.batched and len(requests) > 1:
            return self._batch(requests)
        return [self._one(r) for r in requests]

    def _feeds(self, request):
        return {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.inputs}

    def _response(self, values):
        return pb_utils.InferenceResponse([pb_utils.Tensor(n, np.ascontiguousarray(v)) for n, v in zip(self.outputs, values)])

    def _one(self, request):
        try:
            return self._response(self.session.run(self.outputs, self._feeds(request)))
        except Exception as e:  # the request fails, the model stays up
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{type(e).__name__}: {e}"))

    def _batch(self, requests):
        # Triton's dynamic batcher handed several requests at once: one run over their stacked
        # batches, split back by each request's own batch size.
        try:
            feeds = [self._feeds(r) for r in requests]
            sizes = [f[self.inputs[0]].shape[0] for f in feeds]
            stacked = {n: np.concatenate([f[n] for f in feeds]) for n in self.inputs}
            values = self.session.run(self.outputs, stacked)
        except Exception:
            return [self._one(r) for r in requests]
        out, start = [], 0
        for size in sizes:
            out.append(self._response([v[start : start + size] for v in values]))
            start += size
        return out

    def finalize(self):
        self.session = None
`;
