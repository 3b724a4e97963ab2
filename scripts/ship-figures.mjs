#!/usr/bin/env node
// Packaging figures (issue 20), all in one run so the ratios share the machine's load:
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test node scripts/ship-figures.mjs   (FIGURE_RUNS=5, FIGURES_BUILD=1 to build first)
// 1. npm run pack: tarball size and file count.
// 2. npm install of release/*.tgz into a fresh app in the OS temp dir (npm's cache as it is).
// 3. Cold start of `serve` until GET /health/live answers: the installed bin (compiled JavaScript)
//    against this checkout's previous way, `node --import tsx src/entry/server/main.ts`; alternated, median of N.
// 4. One CLI call (`db status` against DATABASE_URL): compiled bin vs tsx, alternated, median of N.
// 5. Peak RSS (VmHWM) of `serve` idle, 5 s after it answered.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const { fetch } = globalThis;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.FIGURE_RUNS ?? 5);
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must be set (the server refuses the embedded database)');
  process.exit(2);
}

// --no-build: FIGURES_BUILD=1 builds first; by default the current dist is packed (npm ci builds it).
const pack = spawnSync(
  process.execPath,
  ['scripts/pack.mjs', ...(process.env.FIGURES_BUILD ? [] : ['--no-build'])],
  { cwd: root, encoding: 'utf8' },
);
if (pack.status !== 0) throw new Error(pack.stderr);
console.log(pack.stdout.trim().split('\n').at(-1));
const tarball = path.join(
  root,
  'release',
  (await readdir(path.join(root, 'release'))).find((f) => f.endsWith('.tgz')),
);

const app = await mkdtemp(path.join(tmpdir(), 'ship-figures-'));
await writeFile(
  path.join(app, 'package.json'),
  JSON.stringify({ name: 'figures-app', private: true, type: 'module' }),
);
let started = performance.now();
const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', tarball], {
  cwd: app,
  encoding: 'utf8',
});
if (install.status !== 0) throw new Error(install.stderr);
const installMs = performance.now() - started;
const engineWarnings = (install.stderr.match(/EBADENGINE/g) ?? []).length;
console.log(
  `install into a fresh app: ${(installMs / 1000).toFixed(1)} s (${install.stdout.trim()}); EBADENGINE warnings: ${engineWarnings}`,
);

const compiledBin = path.join(app, 'node_modules/.bin/stripe-entitlements');
const env = {
  PATH: process.env.PATH,
  DATABASE_URL: databaseUrl,
  DATABASE_SCHEMA: 'ship_figures',
  STRIPE_SECRET_KEY: 'sk_test_figures',
  STRIPE_WEBHOOK_SECRET: 'whsec_figures',
  LOG_LEVEL: 'silent',
  WEBHOOK_WORKERS: '0',
  PAYMENT_GRACE_CHECK_MINUTES: '0',
};
const ways = {
  compiled: (args) => [compiledBin, args],
  tsx: (args) =>
    args[0] === 'serve'
      ? [process.execPath, ['--import', 'tsx', path.join(root, 'packages/billing/src/entry/server/main.ts')]]
      : [
          process.execPath,
          ['--import', 'tsx', path.join(root, 'packages/billing/src/entry/cli/main.ts'), ...args],
        ],
};

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function coldStart(way, { rss = false } = {}) {
  const port = await freePort();
  const [cmd, args] = ways[way](['serve']);
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    cwd: root,
    env: { ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: 'ignore',
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${way} serve exited ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health/live`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = performance.now() - t0;
  let peak;
  if (rss) {
    await new Promise((r) => setTimeout(r, 5000));
    // The bin is `node <file>`: the child is node itself.
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    peak = Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024;
  }
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return { ms, peak };
}

function cliCall(way) {
  const [cmd, args] = ways[way](['db', 'status', '--json']);
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`${way} db status: ${r.status} ${r.stderr}`);
  return performance.now() - t0;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Migrate once so every start finds the schema ready (the server also migrates on open).
spawnSync(compiledBin, ['db', 'migrate'], { env, stdio: 'ignore' });
const serve = { compiled: [], tsx: [] };
const cli = { compiled: [], tsx: [] };
for (let i = 0; i < runs; i++) {
  for (const way of i % 2 ? ['tsx', 'compiled'] : ['compiled', 'tsx']) {
    serve[way].push((await coldStart(way)).ms);
    cli[way].push(cliCall(way));
  }
}
const idle = await coldStart('compiled', { rss: true });
const tsxIdle = await coldStart('tsx', { rss: true });
const row = (label, m) =>
  console.log(
    `${label}: compiled ${median(m.compiled).toFixed(0)} ms, tsx ${median(m.tsx).toFixed(0)} ms (median of ${runs}; ${(median(m.tsx) / median(m.compiled)).toFixed(2)}x faster compiled)`,
  );
row('cold start of serve until /health/live', serve);
row('one CLI call (db status --json)', cli);
console.log(
  `peak RSS of serve idle (VmHWM): compiled ${idle.peak.toFixed(0)} MiB, tsx ${tsxIdle.peak.toFixed(0)} MiB`,
);
await rm(app, { recursive: true, force: true });
const { default: pg } = await import('pg');
const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query('DROP SCHEMA IF EXISTS ship_figures CASCADE');
await admin.end();
