/** `hrseg export-triton`: a Triton Inference Server model repository from a package (docs/triton.md). */
import { parseArgs } from 'node:util';

import { readPackage } from '../package/manifest.js';
import { TRITON_BACKENDS } from '../triton/config.js';
import { IN_PROCESS } from '../triton/names.js';
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
    force: values.force,
  });
  for (const m of models) console.log(`${m.name}: ${m.component}${m.batched ? ' (dynamic batching)' : ''}`);
  console.log(`repository written to ${out} (${backend} backend); ${[...IN_PROCESS].join(', ')} stays in the Node process`);
  if (backend === 'tensorrt') console.log('each model folder still needs its 1/model.plan, built on the serving GPU (docs/triton.md)');
}

export const exportTritonCommand: Command = {
  name: 'export-triton',
  summary: 'write a Triton Inference Server model repository for a package',
  help: `usage: hrseg export-triton --model <dir> --out <repository> [options]

Writes one Triton model per network of the package (SAM, DINOv2, the VLM's vision tower), with a
config.pbtxt derived from its tensor contract; serve it with tritonserver --model-repository and
use it with device 'triton' (docs/triton.md). The VLM's decoder stays in the Node process.

options:
  --model <dir>         the model package
  --out <dir>           the repository to write (whole or not at all)
  --backend <name>      ${TRITON_BACKENDS.join(', ')} (default python: ONNX Runtime inside the python
                        backend, what CI tests; onnxruntime and tensorrt are for GPU servers)
  --instances <n>       instances of each model (default 1)
  --queue-delay-us <n>  how long Triton holds a DINOv2 request for others to join its batch
                        (default 2000 µs)
  --force               replace an existing repository
  -h, --help            this help`,
  run,
};
