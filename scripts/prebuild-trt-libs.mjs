// prebuildify copies only the .node file; the TensorRT layers' libraries must sit beside it (the
// addon dlopens libhrseg_trt.so, for TensorRT 11, or libhrseg_trt10.so, for TensorRT 10, from its
// own directory, and users point trtexec or Triton at libhrseg_trt_plugins.so or
// libhrseg_trt10_plugins.so). Copied (and stripped, like the addon) when the build made them;
// stale copies are removed when it did not, so a prebuild never ships a mismatched layer.
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
for (const name of ['libhrseg_trt.so', 'libhrseg_trt_plugins.so', 'libhrseg_trt10.so', 'libhrseg_trt10_plugins.so']) {
  const built = join(root, 'build', 'Release', name);
  const shipped = join(target, name);
  if (!existsSync(built)) {
    rmSync(shipped, { force: true });
    console.log(`prebuild: ${name} not built (no TensorRT headers of its major at build time): the package has no such layer`);
    continue;
  }
  mkdirSync(target, { recursive: true });
  copyFileSync(built, shipped);
  try {
    execFileSync('strip', ['--strip-unneeded', shipped]);
  } catch {
    // strip is optional: an unstripped library works the same.
  }
  console.log(`prebuild: ${name} → ${shipped}`);
}
