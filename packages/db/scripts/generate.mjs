// Runs `prisma generate` offline. The generator is WASM; the CLI only insists that a
// schema-engine binary path exists, so we point it at node itself and skip the checksum.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};
const result = spawnSync(
  process.execPath,
  [path.join(pkgDir, '../../node_modules/prisma/build/index.js'), 'generate'],
  {
    cwd: pkgDir,
    env,
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);
