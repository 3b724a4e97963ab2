import { spawn } from 'node:child_process';
import { mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { finished } from './child-process.js';

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const distDir = path.join(repoRoot, 'packages/billing/dist');
const sources = [
  'packages/billing/src',
  'packages/db/src',
  'packages/db/prisma',
  'packages/stripe-emulator/src',
];

/**
 * The compiled package (`npm run build`, run by `npm ci`'s prepare), rebuilt first when a source is
 * newer than it, so a test of a bin or of the exports never runs yesterday's code. One test file
 * builds at a time (a directory lock); the others wait for it and find the build fresh.
 */
export async function ensureBuilt(): Promise<void> {
  const lock = path.join(repoRoot, '.tmp/build.lock');
  await mkdir(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 240_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} held for 4 minutes; remove it if no build runs`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    const built = await stat(path.join(distDir, '.built')).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    const newest = Math.max(...(await Promise.all(sources.map((dir) => newestIn(path.join(repoRoot, dir))))));
    if (newest <= built) return;
    const result = await finished(spawn(process.execPath, ['scripts/build.mjs'], { cwd: repoRoot }));
    if (result.code !== 0) throw new Error(`npm run build failed:\n${result.stdout}${result.stderr}`);
  } finally {
    await rmdir(lock);
  }
}

async function newestIn(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const { mtimeMs } = await stat(path.join(entry.parentPath, entry.name));
    newest = Math.max(newest, mtimeMs);
  }
  return newest;
}
