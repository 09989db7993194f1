/**
 * The VLM decoder served with its key/value cache kept in the server (model `hrseg_vlm_decoder`,
 * python backend): each step sends the new tokens' embeddings and the id of the cache to extend,
 * and gets back logits, hidden states and the id of the extended cache. The cache (~0.5 MiB a token
 * on a 7B model) never travels; an image's prefix stays on the server, and every instruction on it
 * forks from it. The server evicts caches that sat idle or exceed its budget (least recently used
 * first); a step on an evicted cache fails with a message saying so.
 */
import { readFile } from 'node:fs/promises';

import onnxProto from 'onnx-proto';

import { HrsegError } from '../errors.js';

const { onnx } = onnxProto as unknown as { onnx: typeof import('onnx-proto').onnx };

export interface CacheShape {
  layers: number;
  heads: number;
  headDim: number;
}

/**
 * Layers, heads and head size of the decoder's cache, from its ONNX graph's past.{l}.key inputs
 * (the graph is small: a 7B decoder keeps its weights in external data), the manifest's
 * kvHeads/headDim where the graph leaves them symbolic.
 */
export async function cacheShape(file: string, fallback: { kvHeads?: number; headDim?: number }): Promise<CacheShape> {
  const model = onnx.ModelProto.decode(await readFile(file));
  const past = (model.graph?.input ?? []).filter((i) => /^past\.\d+\.key$/.test(i.name ?? ''));
  const dims = past[0]?.type?.tensorType?.shape?.dim ?? [];
  const fixed = (i: number) => {
    const v = dims[i]?.dimValue;
    return v !== undefined && v !== null && Number(v) > 0 ? Number(v) : undefined;
  };
  const heads = fixed(1) ?? fallback.kvHeads;
  const headDim = fixed(3) ?? fallback.headDim;
  if (past.length === 0 || heads === undefined || headDim === undefined)
    throw new HrsegError('MODEL_FILE', `${file}: no past.{l}.key inputs of a known [1, heads, past, headDim] shape (set kvHeads/headDim in the manifest)`);
  return { layers: past.length, heads, headDim };
}

/** Where a python-backend cache that is gone says so; the client turns it into a clear error. */
export const CACHE_MISSING = 'hrseg-kv-missing';

export const DECODER_MODEL = `# Written by hrseg export-triton: the VLM decoder with its key/value caches kept here.
import json
import os
import sys
import time
from collections import OrderedDict

for extra in reversed(os.environ.get("HRSEG_TRITON_PYTHONPATH", "").split(os.pathsep)):
    if extra and extra not in sys.path:
        sys.path.insert(0, extra)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        here = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("HRSEG_TRITON_THREADS", "0"))
        self.session = ort.InferenceSession(os.path.join(here, params["onnx_file"]), options, providers=["CPUExecutionProvider"])
        self.layers = int(params["kv_layers"])
        self.heads = int(params["kv_heads"])
        self.head_dim = int(params["kv_head_dim"])
        self.budget = int(params["kv_budget_mib"]) << 20
        self.idle = float(params["kv_idle_s"])
        # id -> (arrays by past name, bytes, last use). Ids start at a random base so that an id from
        # before a restart is not mistaken for a new cache.
        self.caches = OrderedDict()
        self.bytes = 0
        self.next_id = int.from_bytes(os.urandom(5), "little") + 1
        self.names = [f"past.{l}.{k}" for l in range(self.layers) for k in ("key", "value")]

    def _drop(self, cid):
        entry = self.caches.pop(cid, None)
        if entry is not None:
            self.bytes -= entry[1]

    def _evict(self, keep):
        now = time.monotonic()
        for cid in [c for c, e in self.caches.items() if now - e[2] > self.idle and c != keep]:
            self._drop(cid)
        while self.bytes > self.budget and len(self.caches) > 1:
            oldest = next(c for c in self.caches if c != keep)
            self._drop(oldest)

    def execute(self, requests):
        return [self._one(r) for r in requests]

    def _one(self, request):
        try:
            get = lambda n: pb_utils.get_input_tensor_by_name(request, n).as_numpy()
            for cid in get("drop_ids").reshape(-1).tolist():
                self._drop(int(cid))
            past_id = int(get("past_id").reshape(-1)[0])
            if past_id == 0:
                past = {n: np.zeros((1, self.heads, 0, self.head_dim), np.float32) for n in self.names}
            elif past_id in self.caches:
                self.caches.move_to_end(past_id)
                entry = self.caches[past_id]
                self.caches[past_id] = (entry[0], entry[1], time.monotonic())
                past = entry[0]
            else:
                raise KeyError(f"${CACHE_MISSING}: key/value cache {past_id} is not on this server (evicted, or the server restarted)")
            feeds = {"inputs_embeds": get("inputs_embeds"), "position_ids": get("position_ids"), **past}
            outputs = [o.name for o in self.session.get_outputs()]
            values = dict(zip(outputs, self.session.run(outputs, feeds)))
            present = {n: values[n.replace("past.", "present.")] for n in self.names}
            cid = self.next_id
            self.next_id += 1
            size = sum(v.nbytes for v in present.values())
            self.caches[cid] = (present, size, time.monotonic())
            self.bytes += size
            self._evict(cid)
            return pb_utils.InferenceResponse([
                pb_utils.Tensor("logits", np.ascontiguousarray(values["logits"])),
                pb_utils.Tensor("hidden", np.ascontiguousarray(values["hidden"])),
                pb_utils.Tensor("present_id", np.array([cid], np.int64)),
            ])
        except Exception as e:  # the request fails, the model and its other caches stay
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{type(e).__name__}: {e}"))

    def finalize(self):
        self.caches.clear()
        self.session = None
`;
