import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { forEachBounded } from '../src/io/bounded-concurrency.js';
import { freePort } from '../test/helpers/ports.js';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** The process's peak resident set so far (VmHWM), in MiB. */
  peakRssMiB(): number;
  /** CPU time (user + system) the process has used so far, in ms. */
  cpuMs(): number;
  kill(): Promise<void>;
}

/**
 * The compiled module of `src/<name>.ts` in packages/billing/dist, refusing a build older than any
 * source file (run `npm run build`), so a bench never measures stale code.
 */
export function compiledEntry(name: string): string {
  const src = fileURLToPath(new URL('../src', import.meta.url));
  const entry = fileURLToPath(new URL(`../dist/${name}.js`, import.meta.url));
  let built: number;
  try {
    built = statSync(entry).mtimeMs;
  } catch {
    throw new Error(`${entry} is missing: run \`npm run build\` (or BENCH_SERVER=tsx)`);
  }
  const newest = readdirSync(src, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && f.name.endsWith('.ts'))
    .reduce((max, f) => Math.max(max, statSync(`${f.parentPath}/${f.name}`).mtimeMs), 0);
  if (newest > built) {
    throw new Error(`dist/ is older than src/: run \`npm run build\` (or BENCH_SERVER=tsx)`);
  }
  return entry;
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * Starts `node <entry>` (`node --import tsx <entry>` for TypeScript) with PORT set, and waits until
 * GET /health/live answers. With BENCH_CPU_PROF=<dir> the process runs under `--cpu-prof` and is
 * stopped with SIGTERM, again 1.5 s later if still running (an exit writes the profile into <dir>;
 * SIGKILL after 20 s).
 */
export async function startHttpProcess(entry: string, env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const port = await freePort();
  const profileDir = process.env.BENCH_CPU_PROF;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const args = [...profile, ...(entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry])];
  const child = spawn(process.execPath, args, {
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
    cpuMs() {
      // Fields 14 and 15 (utime, stime) after the parenthesised command name.
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
    },
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        if (!profileDir) return void child.kill('SIGKILL');
        // A second SIGTERM after the first one's window forces the exit (the server's onForce).
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGTERM'), 1_500).unref();
        setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
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

/**
 * What a bench child process reports: its stdout's last line, parsed as JSON once it exits 0; a
 * non-zero exit rejects with everything it printed, named after `what`.
 */
export function lastJsonLineOf<T>(child: ChildProcess, what: string): Promise<T> {
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${what} exited ${code}: ${out}`));
      resolve(JSON.parse(line) as T);
    });
  });
}
