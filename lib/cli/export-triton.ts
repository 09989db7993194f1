/** `hrseg export-triton`: a Triton Inference Server model repository from a package (docs/triton.md). */
import { parseArgs } from 'node:util';

import { readPackage } from '../package/manifest.js';
import { TRITON_BACKENDS } from '../triton/config.js';
import { GENERATE_MODEL_NAME, IN_PROCESS } from '../triton/names.js';
import { exportTritonRepository } from '../triton/repository.js';
import { choice, need, positiveInt, type Command } from './args.js';

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      backend: { type: 'string' },
      instances: { type: 'string' },
      'queue-delay-us': { type: 'string' },
      'kv-budget-mib': { type: 'string' },
      'kv-idle-s': { type: 'string' },
      force: { type: 'boolean' },
    },
  });
  const pkg = await readPackage(need(values.model, '--model <dir>'));
  const out = need(values.out, '--out <repository>');
  const backend = choice(values.backend, TRITON_BACKENDS, '--backend') ?? 'python';
  const models = await exportTritonRepository(pkg, out, {
    backend,
    instances: positiveInt(values.instances, '--instances'),
    queueDelayUs: positiveInt(values['queue-delay-us'], '--queue-delay-us'),
    kvBudgetMiB: positiveInt(values['kv-budget-mib'], '--kv-budget-mib'),
    kvIdleSeconds: positiveInt(values['kv-idle-s'], '--kv-idle-s'),
    force: values.force,
  });
  for (const m of models)
    console.log(`${m.name}: ${m.component}${m.name === GENERATE_MODEL_NAME ? ' (its greedy loop, streaming tokens)' : m.batched ? ' (dynamic batching)' : ''}`);
  const here = backend === 'python' ? '' : `; ${[...IN_PROCESS].join(', ')} stays in the Node process (only the python backend keeps its caches in the server)`;
  console.log(`repository written to ${out} (${backend} backend)${here}`);
  if (backend === 'tensorrt') console.log('each model folder still needs its 1/model.plan, built on the serving GPU (docs/triton.md)');
}

export const exportTritonCommand: Command = {
  name: 'export-triton',
  summary: 'write a Triton Inference Server model repository for a package',
  help: `usage: hrseg export-triton --model <dir> --out <repository> [options]

Writes one Triton model per network of the package (SAM, DINOv2, the VLM's vision tower), with a
config.pbtxt derived from its tensor contract; serve it with tritonserver --model-repository and
use it with device 'triton' (docs/triton.md). With --backend python the VLM's decoder is served
too, its key/value caches kept in the server, and beside it hrseg_vlm_generate, the greedy loop
that streams an answer's tokens; otherwise the decoder runs in the Node process.

options:
  --model <dir>         the model package
  --out <dir>           the repository to write (whole or not at all)
  --backend <name>      ${TRITON_BACKENDS.join(', ')} (default python: ONNX Runtime inside the python
                        backend, what CI tests; onnxruntime and tensorrt are for GPU servers)
  --instances <n>       instances of each model, the VLM decoder's included (default 1)
  --queue-delay-us <n>  how long Triton holds a DINOv2 request, or a VLM decoder step, for others
                        to join its batch (default 2000 µs)
  --kv-budget-mib <n>   python backend: MiB of the VLM decoder's key/value caches each decoder
                        instance keeps before it evicts the least recently used (default 4096)
  --kv-idle-s <n>       python backend: seconds an unused cache, and the Triton sequence holding
                        it, is kept (default 600)
  --force               replace an existing repository
  -h, --help            this help`,
  run,
};
