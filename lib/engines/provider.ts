/**
 * Engine providers: the one door through which a segmenter gets the engines of its package's
 * components. A provider is a way of running components (ONNX Runtime on the CPU, ONNX Runtime's
 * CUDA provider, TensorRT plans; a remote server next); the segmenter asks it for components by
 * name and never names a backend. Picking a device, 'auto' included, is the providers' answer
 * (select.ts); adding a provider is one file plus its line in registry.ts.
 */
import type { ModelPackage } from '../package/manifest.js';
import type { Component } from './contracts.js';
import type { Engine } from './types.js';

/** Where a Triton Inference Server is (device 'triton', lib/engines/providers/triton.ts). */
export interface TritonConnection {
  /** Its KServe v2 gRPC endpoint, 'host:port' or 'grpc://host:port' (8001 by default). */
  url: string;
  /**
   * Each call's deadline in ms (default 60 000): a server that does not answer by then is
   * UNAVAILABLE. For a token stream it bounds the wait for each token, not the whole answer.
   */
  deadlineMs?: number;
  /**
   * Generate on the server, one gRPC stream per answer, where the repository has hrseg_vlm_generate
   * (default true); false: one call per token, the loop here.
   */
  streamTokens?: boolean;
}

/**
 * The segmenter's options that a provider may read when it binds to a package (the segmenter
 * passes its own options): what a remote provider needs to reach its server, and the signal that
 * cancels the connect.
 */
export interface AttachOptions {
  signal?: AbortSignal;
  triton?: TritonConnection;
}

export interface OpenOptions {
  /** Contract symbols the caller fixes beyond the manifest's (the VLM's hidden size). */
  bindings?: Readonly<Record<string, number>>;
}

/** A provider bound to one package: what a segmenter opens its engines from. */
export interface EngineSource {
  /** The provider's name: the segmenter's device. */
  readonly device: string;
  /** Where the HRSeg head and SAM's mask post-processing run: the C++ core or the CUDA kernels. */
  readonly compute: 'cpu' | 'cuda';
  /** Its engines leave outputs on the device, where the next engine and the CUDA head read them in place. */
  readonly outputsOnDevice: boolean;
  /** Tokens the VLM decoder's device key/value cache holds, where the engines fix it (a TensorRT build). */
  readonly kvContext?: number;
  /** Opens one component; MODEL_FILE when its file or engine does not fit its contract. */
  open(component: Component, options?: OpenOptions): Promise<Engine>;
}

export interface EngineProvider {
  /** The device name users pass (`device: 'cuda'`, `--device cuda`). */
  readonly name: string;
  /** One line for `hrseg info`: what runs where with this provider. */
  readonly summary: string;
  /** Whether device 'auto' may pick it (a remote provider is used only when asked for by name). */
  readonly auto: boolean;
  /** Why it cannot run on this machine, without opening anything; undefined when it can. */
  unavailable(): string | undefined;
  /**
   * What a package still needs before this provider can run it (e.g. engines to build, with the
   * command), undefined when nothing; the same reason `attach` would throw.
   */
  missing(pkg: ModelPackage): Promise<string | undefined>;
  /**
   * Binds to a package: DEVICE_UNAVAILABLE when the machine cannot run it (the `unavailable`
   * reason), MODEL_FILE or ENGINE_MISMATCH when the package lacks what it needs here.
   */
  attach(pkg: ModelPackage, options?: AttachOptions): Promise<EngineSource>;
}
