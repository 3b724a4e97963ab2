#!/usr/bin/env node
// `npm run pack`: builds, then writes the installable tarball(s) to release/. The package is staged
// with a manifest fit for an app's node_modules: no `source` export condition (the sources are not
// shipped), no scripts, no devDependencies (they name the repo's own workspaces). One tarball holds
// everything a host needs: @packages/db and the Stripe emulator are folded into it by the build, so
// `npm install release/*.tgz` asks a registry only for packages that exist there.
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const billing = path.join(root, 'packages/billing');
const release = path.join(root, 'release');
const stage = path.join(root, '.tmp', `pack-${process.pid}`);

if (!process.argv.includes('--no-build')) run(process.execPath, [path.join(root, 'scripts/build.mjs')]);

const manifest = JSON.parse(await readFile(path.join(billing, 'package.json'), 'utf8'));
for (const entry of Object.values(manifest.exports)) if (typeof entry === 'object') delete entry.source;
delete manifest.scripts;
delete manifest.devDependencies;

await rm(stage, { recursive: true, force: true });
await mkdir(stage, { recursive: true });
await writeFile(path.join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
for (const item of ['dist', 'bin', 'docs'])
  await cp(path.join(billing, item), path.join(stage, item), { recursive: true });
await cp(path.join(root, 'README.md'), path.join(stage, 'README.md'));

await mkdir(release, { recursive: true });
for (const old of await readdir(release)) if (old.endsWith('.tgz')) await rm(path.join(release, old));
const packed = run('npm', ['pack', '--json', '--pack-destination', release], { cwd: stage, quiet: true });
await rm(stage, { recursive: true, force: true });
for (const { filename, size, unpackedSize, entryCount } of JSON.parse(packed)) {
  console.log(
    `release/${filename}: ${(size / 1024).toFixed(0)} KiB packed, ${(unpackedSize / 1024).toFixed(0)} KiB unpacked, ${entryCount} files`,
  );
}

function run(command, args, { cwd = root, quiet = false } = {}) {
  const result = spawnSync(command, args, {
    cwd,
    stdio: ['ignore', quiet ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
  return result.stdout;
}
