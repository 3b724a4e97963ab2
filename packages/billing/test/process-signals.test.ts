import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { watched } from './helpers/child-process.js';
import { ensureBuilt } from './helpers/build.js';

// The npm scripts run the compiled package (npm run build); rebuilt here when a source is newer.
beforeAll(ensureBuilt, 300_000);

/**
 * Signals through the real process chain (npm → sh → node), as a deploy tool or a terminal sends
 * them. Each test starts `npm start` on the embedded database and a free port.
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const started: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function npmStart() {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STRIPE_SECRET_KEY: 'sk_test_x',
    STRIPE_WEBHOOK_SECRET: 'whsec_x',
    ALLOW_EMBEDDED_DATABASE: 'true',
    PORT: '0',
    PAYMENT_GRACE_CHECK_MINUTES: '0',
  };
  delete env.DATABASE_URL;
  delete env.DATABASE_SCHEMA;
  delete env.REDIS_URL;
  // Its own process group, like a job started from a shell: a terminal's Ctrl-C reaches the whole group.
  const child = spawn('npm', ['start'], { cwd: repoRoot, env, detached: true });
  started.push(child);
  const run = watched(child);
  return {
    ...run,
    /** The server's port and the pid of the node process that listens (from its log line). */
    async listening(): Promise<{ port: number; serverPid: number }> {
      for (let i = 0; i < 1200; i++) {
        const output = run.output();
        const match = /"pid":(\d+),[^\n]*Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (match) return { serverPid: Number(match[1]), port: Number(match[2]) };
        if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`server did not start:\n${run.output()}`);
    },
  };
}

describe('npm start: graceful shutdown whichever process of the chain is signalled', () => {
  it(
    'SIGTERM to the npm process stops the server; nothing is left listening',
    { timeout: 180_000 },
    async () => {
      const run = npmStart();
      const { port, serverPid } = await run.listening();
      expect(serverPid).not.toBe(run.child.pid);
      run.child.kill('SIGTERM');
      await run.exited;
      for (let i = 0; i < 100 && alive(serverPid); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive(serverPid)).toBe(false);
      expect(await accepts(port)).toBe(false);
      expect(run.output()).toMatch(/"signal":"SIGTERM","msg":"shutting down"/);
    },
  );

  it(
    'Ctrl-C (SIGINT to the whole group, which npm forwards again) drains and exits 0',
    { timeout: 180_000 },
    async () => {
      const run = npmStart();
      const { port, serverPid } = await run.listening();
      process.kill(-run.child.pid!, 'SIGINT');
      const code = await run.exited;
      for (let i = 0; i < 100 && alive(serverPid); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive(serverPid)).toBe(false);
      expect(await accepts(port)).toBe(false);
      // The duplicate SIGINT is the same Ctrl-C, not a second one forcing exit 1 mid-drain.
      expect(run.output().match(/"msg":"shutting down"/g)).toHaveLength(1);
      expect(code).toBe(0);
    },
  );
});
