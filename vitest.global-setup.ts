import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EMBEDDED_TEMPLATE_VARIABLE, writeEmbeddedTemplate } from './packages/db/src/embedded.js';

/**
 * Runs once per `vitest run`, before any test file. Initialises one embedded PGlite data directory
 * and names it in EMBEDDED_DATABASE_TEMPLATE, which the test workers and the processes they spawn
 * inherit: every embedded database of the run starts from it instead of running initdb again.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env[EMBEDDED_TEMPLATE_VARIABLE]) return async () => {};
  const dir = await mkdtemp(path.join(tmpdir(), 'stripe-entitlements-pglite-'));
  const file = path.join(dir, 'initdb.tar');
  await writeEmbeddedTemplate(file);
  process.env[EMBEDDED_TEMPLATE_VARIABLE] = file;
  return async () => {
    delete process.env[EMBEDDED_TEMPLATE_VARIABLE];
    await rm(dir, { recursive: true, force: true });
  };
}
