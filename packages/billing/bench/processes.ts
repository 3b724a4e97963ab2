import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { forEachBounded } from '../src/bounded-concurrency.js';
import { freePort } from '../test/helpers/ports.js';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** The process's peak resident set so far (VmHWM), in MiB. */
  peakRssMiB(): number;
  kill(): Promise<void>;
}

/** Starts `node --import tsx <entry>` with PORT set, and waits until GET /health/live answers. */
export async function startHttpProcess(entry: string, env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited (${child.exitCode}):\n${output}`);
    try {
      if ((await fetch(`${url}/health/live`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    url,
    peakRssMiB() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      return Math.round(kib / 1024);
    },
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** POSTs bodies with keep-alive connections, `concurrency` in flight; per-request latencies and statuses. */
export async function postAll(
  url: string,
  bodies: string[],
  concurrency: number,
  headers: (body: string) => Record<string, string>,
): Promise<{ latencies: number[]; wallMs: number; non2xx: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  const latencies: number[] = [];
  let non2xx = 0;
  const post = (body: string) =>
    new Promise<number>((resolve) => {
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...headers(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  const started = performance.now();
  await forEachBounded(bodies.length, concurrency, async (b) => {
    const t0 = performance.now();
    const status = await post(bodies[b]!);
    latencies.push(performance.now() - t0);
    if (status < 200 || status >= 300) non2xx += 1;
  });
  const wallMs = performance.now() - started;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { latencies, wallMs, non2xx };
}
