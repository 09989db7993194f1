/**
 * Token streaming: `hrseg_vlm_generate`, a decoupled python-backend model (several responses to one
 * request, over gRPC's ModelStreamInfer) that runs the greedy loop of lib/vlm/runner.ts in the
 * server. One request names an image's prefix (its cache id and its sequence's correlation id, as a
 * step of the decoder does) and carries the instruction's suffix embeddings, the token limit, the
 * stop ids and the [SEG] id; it answers with one response per generated token (its id, and its
 * final-norm hidden state where the token is [SEG]: the only states the runner keeps), then a final
 * response (TRITONSERVER_RESPONSE_COMPLETE_FINAL) saying why it stopped and which caches it left
 * on the server for the client to drop.
 *
 * It holds no cache of its own: each step is a BLS request to `hrseg_vlm_decoder` under the
 * prefix's correlation id, so Triton's sequence batcher routes it to the decoder instance holding
 * the prefix, and steps of different streams still share the decoder's executions. The decoder's
 * caches, budget, idle eviction, kv_stats and protocol are unchanged. Why not a decoupled mode of
 * the decoder itself: a decoupled model is refused by ModelInfer, so every prefix, teacher-forced
 * step, END and kv_stats question would have had to become a stream too, and the decoder's one
 * instance per sequence would be busy for a whole answer instead of one step.
 *
 * The embedding table (vlm/embed_tokens.safetensors) is copied beside model.py and read with numpy
 * (memory-mapped; f16 and bf16 rows widened to f32 exactly, as the native gather does), so a
 * generated token's embedding is the one the Node runner would have sent.
 */
import { PYTHON_PREAMBLE } from './python-model.js';

/** Why the loop stopped, in the final response's `stop` output. */
export const STOP_EOS = 1;
export const STOP_LIMIT = 2;

export const GENERATE_MODEL = `# Written by hrseg export-triton: the VLM's greedy loop, one response per token (decoupled).
${PYTHON_PREAMBLE}
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

# Streams one instance runs at once; more wait for one to end. Threads are made as needed and reused.
MAX_STREAMS = 1024


def read_safetensors(path, name=None):
    """The named 2-D tensor of a safetensors file (default: its only 2-D tensor), memory-mapped, and its dtype."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    if name is None:
        two = [k for k, v in header.items() if len(v["shape"]) == 2]
        if len(two) != 1:
            raise ValueError(f"{path}: {len(two)} 2-D tensors; name the embedding table (embeddingsTensor)")
        name = two[0]
    entry = header[name]
    kinds = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
    if entry["dtype"] not in kinds:
        raise ValueError(f"{path}: {name} is {entry['dtype']}, not F32, F16 or BF16")
    begin, end = entry["data_offsets"]
    table = np.memmap(path, dtype=kinds[entry["dtype"]], mode="r", offset=8 + n + begin, shape=tuple(entry["shape"]))
    if table.nbytes != end - begin:
        raise ValueError(f"{path}: {name}'s offsets do not match its shape")
    return table, entry["dtype"]


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = model_params(config)
        here = os.path.join(args["model_repository"], args["model_version"])
        self.table, self.table_dtype = read_safetensors(os.path.join(here, params["embeddings_file"]), params.get("embeddings_tensor") or None)
        self.decoder = params["decoder_model"]
        self.closing = False
        # A thread made per stream took ~1.5 ms to start here (the stub's GIL is busy); a pool's idle
        # thread picks a request up in ~0.15 ms.
        self.pool = ThreadPoolExecutor(max_workers=MAX_STREAMS, thread_name_prefix="hrseg-generate")

    def embed(self, token):
        row = np.asarray(self.table[token])
        if self.table_dtype == "BF16":
            row = (row.astype(np.uint32) << 16).view(np.float32)
        return row.astype(np.float32).reshape(1, 1, -1)

    def execute(self, requests):
        # Each stream runs on a thread of its own: one instance serves many streams at once, and
        # their decoder steps meet in the decoder's sequence batcher. The responses go out through
        # each request's sender, so execute returns nothing.
        for request in requests:
            self.pool.submit(self._run, request)
        return None

    def _step(self, corrid, embeds, start, past_id, drops):
        n = embeds.shape[1]
        inputs = [
            pb_utils.Tensor("inputs_embeds", np.ascontiguousarray(embeds, np.float32)),
            pb_utils.Tensor("position_ids", np.arange(start, start + n, dtype=np.int64).reshape(1, n)),
            pb_utils.Tensor("past_id", np.array([[past_id]], np.int64)),
            pb_utils.Tensor("drop_ids", np.array([drops or [0]], np.int64)),
        ]
        outputs = ["logits", "hidden", "present_id"] if past_id >= 0 else ["present_id"]
        response = pb_utils.InferenceRequest(
            model_name=self.decoder, inputs=inputs, requested_output_names=outputs, correlation_id=corrid
        ).exec()
        if response.has_error():
            raise RuntimeError(response.error().message())
        get = lambda name: pb_utils.get_output_tensor_by_name(response, name).as_numpy()
        if past_id < 0:
            return None
        return int(get("present_id").reshape(-1)[0]), get("logits"), get("hidden")

    def _run(self, request):
        sender = request.get_response_sender()
        made = []  # the cache this stream made last (the next step's past)
        drops = []  # caches to drop with the next step: the client's, then the one the last step read
        corrid = 0
        try:
            get = lambda n: pb_utils.get_input_tensor_by_name(request, n).as_numpy()
            corrid = int(get("sequence_id").reshape(-1)[0])
            embeds = get("inputs_embeds")
            embeds = embeds.reshape((1,) + embeds.shape[-2:])
            start = int(get("position_start").reshape(-1)[0])
            past_id = int(get("past_id").reshape(-1)[0])
            drops = [int(d) for d in get("drop_ids").reshape(-1).tolist() if int(d) != 0]
            limit = int(get("max_new_tokens").reshape(-1)[0])
            stops = set(int(s) for s in get("stop_ids").reshape(-1).tolist())
            seg = int(get("seg_id").reshape(-1)[0])
            count, stop = 0, ${STOP_LIMIT}
            empty = np.zeros((0,), np.float32)
            while True:
                if self.closing or request.is_cancelled():
                    # The client went away: nobody reads on. What this stream made is dropped below.
                    sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                    return
                present, logits, hidden = self._step(corrid, embeds, start, past_id, drops)
                # The cache this step read (one this stream made) is dropped with the next request.
                drops = made[:]
                made = [present]
                start += embeds.shape[1]
                past_id = present
                last = logits[0, -1]
                token = int(np.argmax(last))  # the first of equal maxima, as the runner's argmax
                if token in stops:
                    stop = ${STOP_EOS}
                    break
                state = np.ascontiguousarray(hidden[0, -1], np.float32) if token == seg else empty
                sender.send(pb_utils.InferenceResponse([
                    pb_utils.Tensor("token_id", np.array([token], np.int64)),
                    pb_utils.Tensor("hidden", state),
                    pb_utils.Tensor("stop", np.array([0], np.int64)),
                    pb_utils.Tensor("leftover_ids", np.zeros((0,), np.int64)),
                ]))
                count += 1
                if count >= limit:
                    break
                embeds = self.embed(token)
            leftovers = drops + made
            drops, made = [], []
            sender.send(
                pb_utils.InferenceResponse([
                    pb_utils.Tensor("token_id", np.array([-1], np.int64)),
                    pb_utils.Tensor("hidden", np.zeros((0,), np.float32)),
                    pb_utils.Tensor("stop", np.array([stop], np.int64)),
                    # Left on the server: the client drops them with its sequence's next request.
                    pb_utils.Tensor("leftover_ids", np.array(leftovers, np.int64)),
                ]),
                flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
            )
        except Exception as e:  # the stream fails with the decoder's words (a lost cache says so)
            try:
                sender.send(
                    pb_utils.InferenceResponse(error=pb_utils.TritonError(f"{type(e).__name__}: {e}")),
                    flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
                )
            except Exception:
                pass
        finally:
            if (drops or made) and corrid:
                try:  # not handed to the client (cancelled or failed): dropped here
                    self._step(corrid, np.zeros((1, 0, 0), np.float32), 0, -1, drops + made)
                except Exception:
                    pass

    def finalize(self):
        # Running streams end at their next step (closing); waiting ones are dropped.
        self.closing = True
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.table = None
`;
