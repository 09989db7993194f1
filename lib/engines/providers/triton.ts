/**
 * A Triton Inference Server serving the package's networks (a repository that `hrseg export-triton`
 * wrote), over KServe v2 gRPC: SAM's encoder and decoders, DINOv2, the VLM's vision tower and, where
 * the repository has it (python backend), the VLM's decoder with its key/value caches kept in the
 * server (lib/triton/kv.ts); else the decoder runs here. The generation loop, the head, the
 * selection and SAM's mask post-processing run in this process on the CPU. Used only when asked
 * for by name, with `triton: { url }`.
 */
import type { Component } from '../contracts.js';
import { HrsegError } from '../../errors.js';
import { componentEntry } from '../../package/components.js';
import { TritonClient } from '../../triton/client.js';
import { RemoteDecoder } from '../../triton/decoder.js';
import { TritonEngine } from '../../triton/engine.js';
import { IN_PROCESS } from '../../triton/names.js';
import { OnnxEngine } from '../onnx-runtime.js';
import type { EngineProvider, EngineSource, OpenOptions } from '../provider.js';

export const tritonProvider: EngineProvider = {
  name: 'triton',
  summary: 'a Triton Inference Server for SAM, DINOv2 and the VLM (hrseg export-triton); the generation loop and the head on this CPU',
  auto: false,
  unavailable: () => undefined,
  missing: async (pkg) =>
    `a Triton server holding this package's repository (hrseg export-triton --model ${pkg.dir} --out <repo>), given as createSegmenter's triton: { url } or the CLI's --triton-url`,
  async attach(pkg, options = {}) {
    const url = options.triton?.url;
    if (typeof url !== 'string')
      throw new HrsegError('INVALID_ARGUMENT', "device 'triton' needs triton: { url: 'host:port' } (the server's gRPC port, 8001 by default)");
    const client = new TritonClient(url, options.triton?.deadlineMs !== undefined ? { deadlineMs: options.triton.deadlineMs } : {});
    try {
      if (!(await client.serverReady({ signal: options.signal })))
        throw new HrsegError('UNAVAILABLE', `Triton at ${client.target} is not ready (still loading its models?)`);
    } catch (e) {
      client.close();
      throw e;
    }
    // The engines share one channel: it closes when the last of them is disposed.
    let open = 0;
    const release = () => {
      if (--open === 0) client.close();
    };
    const source: EngineSource = {
      device: 'triton',
      compute: 'cpu',
      outputsOnDevice: false,
      async open(component: Component, openOptions: OpenOptions = {}) {
        const bindings = { ...componentEntry(component).bindings?.(pkg), ...openOptions.bindings };
        if (component === 'vlm/decoder') {
          // Served with its caches kept in the server where the repository has it (python backend).
          open++;
          const remote = await RemoteDecoder.open(client, pkg, release, options.signal, options.triton?.streamTokens !== false).catch((e: unknown) => {
            release();
            throw e;
          });
          if (remote) return remote;
          release();
        }
        if (IN_PROCESS.has(component)) {
          const engine = await OnnxEngine.load(pkg.files[componentEntry(component).file], component, { provider: 'cpu', bindings });
          engine.fallbackReason = "runs in this process on the CPU: the server's repository has no hrseg_vlm_decoder (only --backend python writes it)";
          return engine;
        }
        open++;
        try {
          return await TritonEngine.open(client, pkg, component, bindings, release, options.signal);
        } catch (e) {
          release();
          throw e;
        }
      },
    };
    return source;
  },
};
