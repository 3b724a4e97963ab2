import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runManageCli, type ManageCliContext } from '../src/entry/cli/manage.js';
import { EXIT_USAGE, runMigrateCli } from '../src/entry/cli/migrate-stripe-metadata-to-db.js';
import { createMemoryCache } from '../src/io/cache/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { captureStream } from './admin-helpers.js';
import { createIsolatedDatabase, type Database } from '@packages/db';
import { ensureBuilt } from './helpers/build.js';

// The npm scripts run the compiled package (npm run build); rebuilt here when a source is newer.
beforeAll(ensureBuilt, 300_000);

let db: Database;
let context: ManageCliContext;

beforeAll(async () => {
  db = await createIsolatedDatabase();
  context = { prisma: db.prisma, featureReader: createFeatureReader(db.prisma, createMemoryCache()) };
});
afterAll(async () => {
  await db?.close();
});

async function manage(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = captureStream();
  const stderr = captureStream();
  const code = await runManageCli(argv, { context, env, stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('npm run manage -- …', () => {
  it('registers a key, creates a tenant, sets and clears an override, audited as cli', async () => {
    expect(
      (
        await manage([
          'features',
          'add',
          'platform.whiteLabel',
          '--type',
          'boolean',
          '--description',
          'No branding',
        ])
      ).code,
    ).toBe(0);
    expect(
      JSON.parse((await manage(['features', 'list'])).stdout).map((f: { key: string }) => f.key),
    ).toContain('platform.whiteLabel');
    expect((await manage(['tenants', 'create', 'cli-t1', 'Tenant One'])).code).toBe(0);
    const set = await manage(['overrides', 'set', 'cli-t1', 'platform.whiteLabel', 'true']);
    expect(JSON.parse(set.stdout)).toMatchObject({
      changed: true,
      features: { 'platform.whiteLabel': true },
    });
    expect((await manage(['overrides', 'clear', 'cli-t1', 'platform.whiteLabel'])).code).toBe(0);
    const listed = JSON.parse((await manage(['tenants', 'list', '--limit', '10'])).stdout);
    expect(listed.tenants.map((t: { id: string }) => t.id)).toEqual(['cli-t1']);
    const audit = await db.prisma.featureAuditLog.findMany({ where: { tenantId: 'cli-t1' } });
    expect(audit.map((a) => [a.actor, a.source, a.action])).toEqual([
      ['cli', 'cli', 'tenant_created'],
      ['cli', 'cli', 'override_set'],
      ['cli', 'cli', 'override_cleared'],
    ]);
  });

  it('bad input: a typed error on stderr, exit 1, nothing written', async () => {
    const before = await db.prisma.featureAuditLog.count();
    const malformed = await manage(['overrides', 'set', 'cli-t1', 'platform..x', 'true']);
    expect([malformed.code, malformed.stderr]).toEqual([1, expect.stringContaining('validation_error')]);
    const unknown = await manage(['overrides', 'set', 'cli-t1', 'platform.typo', 'true']);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining('unknown_feature')]);
    const missing = await manage(['tenants', 'delete', 'cli-missing']);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining('tenant_not_found')]);
    expect((await manage(['overrides', 'set', 'cli-t1', 'sso', 'maybe'])).code).toBe(EXIT_USAGE);
    expect((await manage(['nonsense'])).code).toBe(EXIT_USAGE);
    expect(await db.prisma.featureAuditLog.count()).toBe(before);
  });
});

describe("npm's own --dry-run (npm run x --dry-run, without --)", () => {
  const notCalled = async () => {
    throw new Error('must not open a context');
  };

  it('the migration CLI refuses to write and says to add --', async () => {
    const stderr = captureStream();
    const code = await runMigrateCli([], {
      env: { npm_config_dry_run: 'true' },
      createContext: notCalled,
      stdout: captureStream(),
      stderr,
    });
    expect(code).toBe(EXIT_USAGE);
    expect(stderr.text).toContain('npm run migrate-stripe-metadata-to-db -- --dry-run');
  });

  it('the management CLI refuses too', async () => {
    const stderr = captureStream();
    const code = await runManageCli(['tenants', 'delete', 'cli-t1'], {
      env: { npm_config_dry_run: 'true' },
      createContext: notCalled,
      stdout: captureStream(),
      stderr,
    });
    expect(code).toBe(EXIT_USAGE);
    expect(await db.prisma.tenant.count({ where: { id: 'cli-t1' } })).toBe(1);
  });

  it('through real npm: `npm run migrate-stripe-metadata-to-db --dry-run` exits non-zero before touching anything', async () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('npm', ['run', 'migrate-stripe-metadata-to-db', '--dry-run'], {
        cwd: root,
        // No Stripe key and no database: had the guard not fired, this would be a configuration error instead.
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('close', (exitCode) => resolve({ code: exitCode, stderr: err }));
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain('npm took --dry-run for itself');
  }, 60_000);
});
