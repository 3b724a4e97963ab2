import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchema } from '@packages/db';
import { finished } from './helpers/child-process.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The README's first command runs this; the test keeps it true. */
describe('npm run demo', () => {
  // Its own schema, so test runs sharing one PostgreSQL never recreate each other's demo schema.
  const schema = `demo_test_${randomBytes(6).toString('hex')}`;
  afterAll(async () => {
    if (process.env.DATABASE_URL) await dropSchema(process.env.DATABASE_URL, schema);
  });

  it('seeds, syncs, applies webhooks and a custom plan, and exits 0', { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await finished(
      spawn('npm', ['run', '--silent', 'demo'], {
        cwd: repoRoot,
        env: { ...process.env, DEMO_SCHEMA: schema },
      }),
    );
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/processed 4, updated 4, unchanged 0, failed 0/);
    const afterWebhooks = stdout.slice(stdout.indexOf('── 3.'), stdout.indexOf('── 4.'));
    expect(afterWebhooks).toMatch(/acme\s+pro\s+active\s+access/);
    expect(afterWebhooks).toMatch(/globex\s+pro\s+active\s+grace/);
    expect(afterWebhooks).toMatch(/umbrella\s+pro\s+canceled\s+NO ACCESS/);
    expect(afterWebhooks).toMatch(/customer\.subscription\.deleted\s+processed ×1/);
    const switched = stdout.slice(stdout.indexOf('── 4.'), stdout.indexOf('── 5.'));
    expect(switched).toMatch(/product prod_\w+, price price_\w+, subscription sub_\w+ switched/);
    expect(switched).toMatch(/initech .*max_users=5000.*white_label/);
    const comeback = stdout.slice(stdout.indexOf('── 5.'));
    expect(comeback).toMatch(/checkout http:\/\/127\.0\.0\.1:\d+\/checkout\/cs_test_\w+/);
    expect(comeback).toMatch(/checkout completed: subscription sub_\w+/);
    expect(comeback).toMatch(/umbrella\s+enterprise\s+active\s+access\s.*max_users=40/);
  });
});
