import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SeedCustomer, SeededCustomer, SeedOptions } from '@packages/stripe-emulator';

const CLI = fileURLToPath(new URL('../../stripe-emulator/src/cli.ts', import.meta.url));

/**
 * The Stripe emulator in a process of its own, driven through its control endpoints. Stripe is
 * remote in production: a benchmark whose emulator shares the measured process's event loop would
 * charge the emulator's work (rendering pages, JSON) to the code under test.
 */
export async function startEmulatorProcess() {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`stripe emulator exited (${code}): ${out}`)));
  });
  const { hostname: host, port } = new URL(url);
  const control = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}/_emulator${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<unknown>;
  };
  return {
    url,
    apiKey: 'sk_test_emulator',
    webhookSecret: 'whsec_emulator',
    stripeClientConfig: () => ({ host, port: Number(port), protocol: 'http' as const }),
    injectLatency: (ms: number) => control('POST', '/latency', { ms }),
    requestCounts: () => control('GET', '/requests') as Promise<Record<string, number>>,
    resetRequestCounts: () => control('DELETE', '/requests'),
    /** Customers and their subscriptions in one request, through the API's own code (see the emulator's README). */
    seedCustomers: async (customers: SeedCustomer[], options: SeedOptions = {}) =>
      ((await control('POST', '/customers', { customers, ...options })) as { data: SeededCustomer[] }).data,
    /** Object counts and the emulator process's RSS, heap and CPU time. */
    stats: () =>
      control('GET', '/stats') as Promise<{
        objects: Record<string, number>;
        rssBytes: number;
        heapUsedBytes: number;
        cpuMs: number;
      }>,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export type EmulatorProcess = Awaited<ReturnType<typeof startEmulatorProcess>>;
