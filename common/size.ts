// Sizes in configuration: a bare number is bytes; `KiB`, `MiB`, `GiB` suffixes
// are powers of 1024. Decimal units (KB, MB) are refused: which one was meant is
// a guess.
import { z } from 'zod';

const UNIT_BYTES: Record<string, number> = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };

/** Parses `1048576`, `512KiB`, `1 MiB` into bytes; undefined when malformed. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?\s*$/i.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * (UNIT_BYTES[(match[2] ?? 'b').toLowerCase()] ?? 1);
  return Number.isSafeInteger(Math.floor(value)) ? Math.floor(value) : undefined;
}

/** A zod schema for a size variable within [min, max] bytes; the parsed value is bytes. */
export function byteSize(defaultValue: string, limits: { min: number; max: number }) {
  return z
    .string()
    .default(defaultValue)
    .transform((text, ctx) => {
      const bytes = parseByteSize(text);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a size such as 1048576, 512KiB or 1MiB, got "${text}"` });
        return z.NEVER;
      }
      if (bytes < limits.min || bytes > limits.max) {
        ctx.addIssue({ code: 'custom', message: `expected between ${limits.min} and ${limits.max} bytes, got "${text}"` });
        return z.NEVER;
      }
      return bytes;
    });
}
