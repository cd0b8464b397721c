// Structured JSON logs (pretty on a terminal). Anything that could carry a
// secret is redacted by path, so a careless log call cannot leak it.
//
// Stdout is written in chunks of >= 4 KiB, asynchronously (pino's "asynchronous
// logging"): pino's default destination makes one write per line on the libuv
// thread pool, i.e. a thread hand-off (futex wake, eventfd round trip) per log
// line, which cost the gateway ~15 µs of CPU per request for its access log
// (docs/BENCHMARKS.md). Lines wait at most FLUSH_INTERVAL_MS in memory; pino
// flushes the rest synchronously on process exit (process.exit included, so on
// every graceful shutdown); only a hard kill (SIGKILL, power loss) can lose the
// last buffered lines.
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'client_secret',
  '*.client_secret',
  'secret',
  '*.secret',
  'private_key',
  '*.private_key',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  'cookie',
  '*.cookie',
];

/** Minimum bytes buffered before a write to stdout. */
const BUFFER_BYTES = 4096;
/** Longest a buffered line waits when traffic is low. */
const FLUSH_INTERVAL_MS = 1000;

export interface LoggerOptions {
  name: string;
  level?: string | undefined;
  /** Where to write; defaults to stdout. Tests pass a stream to capture output. */
  destination?: NodeJS.WritableStream | undefined;
}

export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const base = { name: options.name, level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (options.destination) return pino(base, options.destination);
  if (process.stdout.isTTY && process.env.NODE_ENV !== 'production') {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(base, bufferedStdout());
}

let stdout: ReturnType<typeof pino.destination> | undefined;

/** One buffered stdout destination per process, shared by every logger that writes there. */
function bufferedStdout(): ReturnType<typeof pino.destination> {
  if (stdout) return stdout;
  // pino.destination registers a synchronous flush on process exit for sync: false destinations.
  const destination = pino.destination({ dest: 1, minLength: BUFFER_BYTES, sync: false });
  const timer = setInterval(() => destination.flush(), FLUSH_INTERVAL_MS);
  timer.unref();
  destination.on('close', () => clearInterval(timer));
  stdout = destination;
  return destination;
}
