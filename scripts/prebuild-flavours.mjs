// After prebuildify (which copies only build/Release/hrseg.node): the driver probe and the CUDA 12
// flavour of the addon (docs/cuda.md "Two CUDA flavours"), into the places lib/native.ts looks:
//   prebuilds/<platform>-<arch>/probe/hrseg_probe.node    from build/probe (the main build makes it)
//   prebuilds/<platform>-<arch>/cuda12/hrseg.glibc.node   from build-cuda12/Release (scripts/cuda12/build.sh)
// Subfolders, so that node-gyp-build, which reads prebuilds/<platform>-<arch> only, never takes
// either for the CUDA 13 addon. The CUDA 12 flavour is built here when its toolchain is installed
// (scripts/cuda12/install-toolchain.sh; scripts/setup.sh --tests installs it) or HRSEG_CUDA12=1,
// and not when HRSEG_CUDA12=0; a stale copy is removed when it is not built, so a prebuild never
// ships a flavour older than its sources.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'prebuilds', `${process.platform}-${process.arch}`);

function ship(built, shipped, what) {
  mkdirSync(dirname(shipped), { recursive: true });
  copyFileSync(built, shipped);
  try {
    execFileSync('strip', ['--strip-unneeded', shipped]);
  } catch {
    // strip is optional: an unstripped binary works the same.
  }
  console.log(`prebuild: ${what} → ${shipped}`);
}

const probe = join(root, 'build', 'probe', 'hrseg_probe.node');
if (existsSync(probe)) ship(probe, join(target, 'probe', 'hrseg_probe.node'), 'the driver probe');
else console.log('prebuild: no driver probe built (build/probe/hrseg_probe.node): the CUDA 13 flavour loads always');

const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
const toolchain = existsSync(join(cache, 'hrseg', 'cuda-12.4', '.complete'));
const wanted = process.env.HRSEG_CUDA12 === '1' || (process.env.HRSEG_CUDA12 !== '0' && toolchain);
const shipped12 = join(target, 'cuda12', 'hrseg.glibc.node');
if (wanted && process.platform === 'linux' && process.arch === 'x64') {
  console.log('prebuild: the CUDA 12 flavour (scripts/cuda12/build.sh)');
  execFileSync('bash', [join(root, 'scripts', 'cuda12', 'build.sh')], { stdio: ['ignore', 'ignore', 'inherit'], cwd: root });
  ship(join(root, 'build-cuda12', 'Release', 'hrseg.node'), shipped12, 'the CUDA 12 flavour');
  // Its TensorRT 10 layer (built where TENSORRT10_ROOT is), beside it: the addon opens its layer
  // from its own folder. A layer left from an earlier build is removed when this one made none.
  for (const name of ['libhrseg_trt10.so', 'libhrseg_trt10_plugins.so']) {
    const built = join(root, 'build-cuda12', 'Release', name);
    if (existsSync(built)) ship(built, join(target, 'cuda12', name), `the CUDA 12 flavour's ${name}`);
    else rmSync(join(target, 'cuda12', name), { force: true });
  }
} else {
  rmSync(join(target, 'cuda12'), { recursive: true, force: true });
  console.log(
    'prebuild: the CUDA 12 flavour not built (its toolchain is not installed: bash scripts/cuda12/install-toolchain.sh, or HRSEG_CUDA12=1): the package has the CUDA 13 flavour only',
  );
}
