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
import { PYTHON_PREAMBLE } from './python-model.js';

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

/**
 * The decoder's model.py. Triton's sequence batcher (config.ts, decoderConfig) keeps every request
 * of one correlation id on one instance, so a cache is always asked of the instance that holds it;
 * its START/END control inputs arrive as tensors. Requests of different sequences may share one
 * execute() (they are run one after the other: their lengths differ, and on the CPU stacking them
 * would buy nothing). past_id: 0 starts a cache (a prefix), > 0 extends that cache, -1 computes
 * nothing (a sequence's END, or a question for kv_stats).
 */
export const DECODER_MODEL = `# Written by hrseg export-triton: the VLM decoder with its key/value caches kept here.
${PYTHON_PREAMBLE}

class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = model_params(config)
        self.session = onnx_session(args, params)
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.layers = int(params["kv_layers"])
        self.heads = int(params["kv_heads"])
        self.head_dim = int(params["kv_head_dim"])
        self.budget = int(float(params["kv_budget_mib"]) * (1 << 20))
        self.idle = float(params["kv_idle_s"])
        # id -> [arrays by past name, bytes, last use, correlation id], least recently used first.
        # Ids start at a random base so that an id from before a restart is not mistaken for a new cache.
        self.caches = OrderedDict()
        self.bytes = 0
        self.prefills = 0
        self.evictions = 0
        self.next_id = int.from_bytes(os.urandom(5), "little") + 1
        self.names = [f"past.{l}.{k}" for l in range(self.layers) for k in ("key", "value")]

    def _drop(self, cid, evicted=False):
        entry = self.caches.pop(cid, None)
        if entry is not None:
            self.bytes -= entry[1]
            self.evictions += 1 if evicted else 0

    def _evict_idle(self):
        # Triton forgets a sequence idle for max_sequence_idle_microseconds without telling the
        # model; the same idle time here frees the caches such a sequence left behind.
        now = time.monotonic()
        for cid in [c for c, e in self.caches.items() if now - e[2] > self.idle]:
            self._drop(cid, evicted=True)

    def _evict_over_budget(self, keep):
        while self.bytes > self.budget and len(self.caches) > 1:
            self._drop(next(c for c in self.caches if c != keep), evicted=True)

    def execute(self, requests):
        # Before any lookup: a cache idle past its time is gone even when this batch asks for it.
        self._evict_idle()
        return [self._one(r) for r in requests]

    def _stats(self):
        return pb_utils.Tensor("kv_stats", np.array([[len(self.caches), self.bytes, self.prefills, self.evictions]], np.int64))

    def _one(self, request):
        try:
            get = lambda n: pb_utils.get_input_tensor_by_name(request, n).as_numpy()
            corrid = request.correlation_id()
            for cid in get("drop_ids").reshape(-1).tolist():
                self._drop(int(cid))
            past_id = int(get("past_id").reshape(-1)[0])
            if past_id < 0:
                if int(get("END").reshape(-1)[0]):
                    for cid in [c for c, e in self.caches.items() if e[3] == corrid]:
                        self._drop(cid)
                return pb_utils.InferenceResponse([
                    pb_utils.Tensor("logits", np.zeros((1, 0, 0), np.float32)),
                    pb_utils.Tensor("hidden", np.zeros((1, 0, 0), np.float32)),
                    pb_utils.Tensor("present_id", np.zeros((1, 1), np.int64)),
                    self._stats(),
                ])
            if past_id == 0:
                past = {n: np.zeros((1, self.heads, 0, self.head_dim), np.float32) for n in self.names}
                self.prefills += 1
            elif past_id in self.caches:
                self.caches.move_to_end(past_id)
                entry = self.caches[past_id]
                entry[2] = time.monotonic()
                past = entry[0]
            else:
                raise KeyError(f"${CACHE_MISSING}: key/value cache {past_id} is not on this server (evicted, or the server restarted)")
            embeds = get("inputs_embeds")
            feeds = {"inputs_embeds": embeds.reshape((1,) + embeds.shape[-2:]), "position_ids": get("position_ids").reshape(1, -1), **past}
            values = dict(zip(self.outputs, self.session.run(self.outputs, feeds)))
            present = {n: values[n.replace("past.", "present.")] for n in self.names}
            cid = self.next_id
            self.next_id += 1
            size = sum(v.nbytes for v in present.values())
            self.caches[cid] = [present, size, time.monotonic(), corrid]
            self.bytes += size
            self._evict_over_budget(cid)
            return pb_utils.InferenceResponse([
                pb_utils.Tensor("logits", np.ascontiguousarray(values["logits"])),
                pb_utils.Tensor("hidden", np.ascontiguousarray(values["hidden"])),
                pb_utils.Tensor("present_id", np.array([[cid]], np.int64)),
                self._stats(),
            ])
        except Exception as e:  # the request fails, the model and its other caches stay
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{type(e).__name__}: {e}"))

    def finalize(self):
        self.caches.clear()
        self.session = None
`;
