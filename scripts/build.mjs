#!/usr/bin/env node
// `npm run build`: compiles the three workspace packages with tsc (one program, so the declarations
// agree) and assembles ONE installable package in packages/billing/dist:
//   dist/                 @packages/billing           (packages/billing/src, without the demo)
//   dist/db/              what was @packages/db       (openDatabase, migrations runner, generated Prisma client)
//   dist/prisma/          the SQL migrations          (dist/db/migrate.js reads ../prisma/migrations)
//   dist/stripe-emulator/ what was @packages/stripe-emulator (behind @packages/billing/testing)
// Imports of '@packages/db' and '@packages/stripe-emulator' are rewritten to relative paths, so the
// package names no dependency that only exists in this repository (and that nobody owns on a registry).
// The new tree is built beside the old one and swapped in, so a reader never sees half a dist.
import { spawnSync } from 'node:child_process';
import { cp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const billing = path.join(root, 'packages/billing');
const work = path.join(root, '.tmp', `build-${process.pid}`);
const out = path.join(work, 'dist');

const tsc = spawnSync(
  process.execPath,
  [
    path.join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    'tsconfig.build.json',
    '--outDir',
    path.join(work, 'tsc'),
  ],
  { cwd: root, stdio: 'inherit' },
);
if (tsc.status !== 0) {
  await rm(work, { recursive: true, force: true });
  process.exit(tsc.status ?? 1);
}

await rename(path.join(work, 'tsc/billing/src'), out);
await rename(path.join(work, 'tsc/db/src'), path.join(out, 'db'));
await rename(path.join(work, 'tsc/stripe-emulator/src'), path.join(out, 'stripe-emulator'));
await cp(path.join(root, 'packages/db/prisma/migrations'), path.join(out, 'prisma/migrations'), {
  recursive: true,
});
await cp(path.join(billing, 'src/entry/console/assets'), path.join(out, 'entry/console/assets'), {
  recursive: true,
});

const folded = {
  '@packages/db': path.join(out, 'db/index.js'),
  '@packages/stripe-emulator': path.join(out, 'stripe-emulator/index.js'),
};
const specifier = /(['"])(@packages\/(?:db|stripe-emulator))\1/g;
for (const file of await walk(out)) {
  if (!/\.(js|d\.ts)$/.test(file)) continue;
  const text = await readFile(file, 'utf8');
  const rewritten = text.replace(specifier, (_, quote, name) => {
    let relative = path.relative(path.dirname(file), folded[name]).split(path.sep).join('/');
    if (!relative.startsWith('.')) relative = `./${relative}`;
    return `${quote}${relative}${quote}`;
  });
  if (rewritten !== text) await writeFile(file, rewritten);
}
await writeFile(path.join(out, '.built'), `${new Date().toISOString()}\n`);

const target = path.join(billing, 'dist');
const old = path.join(work, 'old');
await rename(target, old).catch((error) => {
  if (error.code !== 'ENOENT') throw error;
});
await rename(out, target);
await rm(work, { recursive: true, force: true });
console.log(`built ${path.relative(root, target)}`);

async function walk(dir) {
  const files = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(full)));
    else files.push(full);
  }
  return files;
}
