// Benchmark processes. Each server under test (token service, gateway,
// upstream, bare proxy) and each load generator runs in its own Node process
// (bench/lib/host.ts), so that on a small machine the load generator cannot
// starve the server on the same event loop, and each process's RSS and CPU
// profile are its own. The parent only orchestrates, over IPC.
//
// Every child is killed when the parent exits, however it exits (normal end,
// error, Ctrl-C); a child whose parent vanished exits on IPC disconnect.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const HOST_SCRIPT = path.join(here, 'host.ts');
const REPO_ROOT = path.join(here, '../..');

const running = new Set<ChildProcess>();

function killAll(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  running.clear();
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (error) => {
    console.error(error);
    killAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (error) => {
    console.error(error);
    killAll();
    process.exit(1);
  });
}

export interface HostOptions {
  /** Shown in errors. */
  name: string;
  /** Extra environment for the child (merged over the parent's). */
  env?: Record<string, string | undefined>;
  /** Extra Node flags, e.g. --max-old-space-size. */
  nodeArgs?: string[];
  /** Start-up bound. */
  timeoutMs?: number;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** A benchmark child process, driven by request/response messages. */
export class Host {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; command: string }>();
  #nextId = 1;
  #exited = false;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    child.on('message', (message: Reply) => {
      const waiter = this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`${this.name}: ${waiter.command} failed: ${message.error}`));
    });
    child.on('exit', (code, signal) => {
      this.#exited = true;
      running.delete(child);
      for (const [, waiter] of this.#pending) waiter.reject(new Error(`${this.name} exited (${signal ?? code}) during ${waiter.command}`));
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.#child.pid as number;
  }

  static async start(options: HostOptions): Promise<Host> {
    installExitHandlers();
    const child = fork(HOST_SCRIPT, [], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent', ...options.env },
      execArgv: ['--import', 'tsx', '--expose-gc', ...(options.nodeArgs ?? [])],
      // stdout is where pino writes: discarded (a real deployment ships it somewhere too).
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    running.add(child);
    const host = new Host(options.name, child);
    const timeoutMs = options.timeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${options.name}: no ready message within ${timeoutMs} ms`)), timeoutMs);
      child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${options.name} exited with ${code} while starting`));
      });
    }).catch((error: Error) => {
      child.kill('SIGKILL');
      throw error;
    });
    return host;
  }

  /** Runs a command in the child (see host.ts for the commands). */
  call<T = unknown>(command: string, args: unknown = {}): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, command });
      this.#child.send({ id, command, args });
    });
  }

  /** Closes what the child runs, then waits for it to exit (SIGKILL after a bound). */
  async stop(boundMs = 15_000): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), boundMs);
    this.call('shutdown').catch(() => undefined);
    await exited;
    clearTimeout(timer);
  }
}

/** Stops every host given, ignoring the ones that already exited. */
export async function stopAll(hosts: Array<Host | undefined>): Promise<void> {
  await Promise.all(hosts.map((host) => host?.stop().catch(() => undefined)));
}
