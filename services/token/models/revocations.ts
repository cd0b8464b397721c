// The revocation log gateways follow (see docs/WIRE-CONTRACT.md). Each entry is
// written in the transaction that revokes, and announced with NOTIFY, which
// Postgres delivers only when that transaction commits.
import type { Knex } from 'knex';
import type { RevocationEntry, RevocationKind } from '../../../contract/revocations.ts';

export type { RevocationEntry, RevocationKind };

export const REVOCATION_CHANNEL = 'revocations';

// Held from the insert to the commit, this transaction-scoped lock makes ids
// commit in order: once a reader sees id N, no entry below N can appear later,
// so a cursor never skips anything. Revocations are rare and short, so
// serialising them costs little. No session row may be locked after it is
// taken (callers lock their sessions first), which rules out deadlocks.
const REVOCATION_ORDER_LOCK = 424243;

export interface RevocationRow {
  id: number;
  kind: RevocationKind;
  key: string;
  not_before: Date | null;
  created_at: Date;
  expires_at: Date;
}

export function toEntry(row: RevocationRow): RevocationEntry {
  return {
    id: row.id,
    kind: row.kind,
    key: row.key,
    not_before: row.not_before ? row.not_before.toISOString() : null,
    expires_at: row.expires_at.toISOString(),
    created_at: row.created_at.toISOString(),
  };
}

/**
 * Takes the lock that orders revocations (see above) for the rest of the
 * transaction. Whatever the transaction then reads of the log stays true until
 * it commits, so "write unless already covered" is atomic.
 */
export async function lockRevocationLog(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(?)', [REVOCATION_ORDER_LOCK]);
}

export async function recordRevocation(
  trx: Knex.Transaction,
  entry: { kind: RevocationKind; key: string; expiresAt: Date; notBefore?: Date },
): Promise<RevocationEntry> {
  await lockRevocationLog(trx);
  const [row] = await trx<RevocationRow>('revocations')
    .insert({ kind: entry.kind, key: entry.key, expires_at: entry.expiresAt, not_before: entry.notBefore ?? null })
    .returning('*');
  const wire = toEntry(row as RevocationRow);
  await trx.raw('SELECT pg_notify(?, ?)', [REVOCATION_CHANNEL, JSON.stringify(wire)]);
  return wire;
}

export async function listRevocations(knex: Knex, after: number, limit: number): Promise<{ entries: RevocationEntry[]; hasMore: boolean }> {
  const rows = await knex<RevocationRow>('revocations')
    .where('id', '>', after)
    .andWhere('expires_at', '>', knex.fn.now())
    .orderBy('id')
    .limit(limit + 1);
  return { entries: rows.slice(0, limit).map(toEntry), hasMore: rows.length > limit };
}

/** The newest entry's id, 0 when the log is empty: where a reader that wants only what comes next starts. */
export async function latestRevocationId(knex: Knex): Promise<number> {
  const [row] = await knex('revocations').max('id as max');
  return Number(row?.max ?? 0);
}

/** Is an access token with these claims revoked by an entry of the log (token, session or user)? */
export async function isRevokedByLog(knex: Knex, claims: { jti: string; sid: string; sub: string; iat: number }): Promise<boolean> {
  const hit = await knex('revocations')
    .where((q) => q.where({ kind: 'token', key: claims.jti }))
    .orWhere((q) => q.where({ kind: 'session', key: claims.sid }))
    .orWhere((q) => q.where({ kind: 'user', key: claims.sub }).andWhere('not_before', '>=', new Date(claims.iat * 1000)))
    .first('id');
  return hit !== undefined;
}

/**
 * RFC 7009 for one access token: writes a token entry unless the log already
 * covers the token (its jti, its session or its user). Revoking what is
 * revoked writes nothing and notifies no gateway. Returns whether it wrote.
 */
export async function revokeAccessTokenOnce(
  trx: Knex.Transaction,
  claims: { jti: string; sid: string; sub: string; iat: number; exp: number },
): Promise<boolean> {
  await lockRevocationLog(trx);
  if (await isRevokedByLog(trx, claims)) return false;
  // A minute past exp covers gateways' clock tolerance.
  await recordRevocation(trx, { kind: 'token', key: claims.jti, expiresAt: new Date(claims.exp * 1000 + 60_000) });
  return true;
}
