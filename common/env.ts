// Environment validation shared by every deployable: one error that names
// every bad variable and says what was expected.
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function parseEnv<Shape extends z.ZodRawShape>(shape: Shape, env: Record<string, string | undefined>): z.infer<z.ZodObject<Shape>> {
  // Empty strings count as unset, as in most twelve-factor setups.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = z.object(shape).safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  }
  return result.data;
}

export const port = (defaultValue: number) => z.coerce.number().int().min(0).max(65535).default(defaultValue);

export const booleanFlag = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(defaultValue ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1' || value === 'yes');

export const commaList = (defaultValue: string) =>
  z
    .string()
    .default(defaultValue)
    .transform((value) =>
      value
        .split(/[\s,]+/)
        .map((item) => item.trim())
        .filter(Boolean),
    );

// Settings every deployable reads, described once.
export const logLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info')
  .describe('one of `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`');
export const metricsToken = z
  .string()
  .min(16, 'at least 16 characters')
  .optional()
  .describe('when set (16 characters or more), `GET /metrics` needs `Authorization: Bearer <METRICS_TOKEN>`');

/** For a failed listen on a port someone else holds: one line naming the port and the variable that moves it. */
export function portInUseMessage(error: unknown, variable: string, portNumber: number): string | undefined {
  if ((error as NodeJS.ErrnoException | undefined)?.code !== 'EADDRINUSE') return undefined;
  return `port ${portNumber} (${variable}) is already in use: stop what holds it, or set ${variable} to a free port`;
}
