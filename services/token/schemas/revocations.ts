// GET /revocations and GET /revocations/stream: the revocation log for
// gateways (docs/WIRE-CONTRACT.md). Cursors are revocation ids.
import { z } from 'zod';
import { decimal } from './parameters.ts';

export const REVOCATION_PAGE_MAX = 5000;
const MAX_DIGITS = 15;

const cursor = (name: string) =>
  z
    .number({ error: `${name} must be a non-negative integer` })
    .int()
    .min(0)
    .max(10 ** MAX_DIGITS - 1);

export const revocationPageQuery = z.object({
  after: decimal(MAX_DIGITS, cursor('after').default(0)),
  limit: decimal(
    15,
    cursor('limit')
      .min(1, `limit must be between 1 and ${REVOCATION_PAGE_MAX}`)
      .max(REVOCATION_PAGE_MAX, `limit must be between 1 and ${REVOCATION_PAGE_MAX}`)
      .default(REVOCATION_PAGE_MAX),
  ),
});

/** Where a reconnecting stream resumes: the Last-Event-ID header, or `after` in the query for clients that cannot set it. */
export const revocationStreamParams = z.object({
  'Last-Event-ID': decimal(MAX_DIGITS, cursor('Last-Event-ID').optional()),
});
