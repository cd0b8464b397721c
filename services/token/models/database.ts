import type { Knex } from 'knex';

/**
 * Resolves once the database answers a trivial query; rejects when it fails
 * or takes longer than `timeoutMs` (knex's timeout, which then cancels the
 * query on the server so that it does not keep its connection busy).
 *
 * The bound covers the query, not the wait for a pooled connection (that is
 * the pool's acquireConnectionTimeout). On PGlite the cancel is a no-op
 * (there is no backend process to signal: pg_cancel_backend gets NULL), and
 * an embedded query runs on this thread, so it cannot be interrupted anyway.
 */
export async function pingDatabase(knex: Knex, timeoutMs: number): Promise<void> {
  await knex.raw('SELECT 1').timeout(timeoutMs, { cancel: true });
}
