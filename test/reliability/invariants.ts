// Invariants of the refresh-token families, checked over the whole database
// after races and crashes. Each query returns the rows that violate one rule.
import type { Knex } from 'knex';

const RULES: Record<string, string> = {
  'a family has at most one live (unconsumed) token': `
    SELECT session_id, count(*) AS live FROM refresh_tokens
    WHERE consumed_at IS NULL GROUP BY session_id HAVING count(*) > 1`,
  'a token has at most one child (one branch)': `
    SELECT parent_id, count(*) AS children FROM refresh_tokens
    WHERE parent_id IS NOT NULL GROUP BY parent_id HAVING count(*) > 1`,
  'every consumed token has its child, or its family is revoked': `
    SELECT t.id, t.session_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
    WHERE t.consumed_at IS NOT NULL AND s.revoked_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM refresh_tokens c WHERE c.parent_id = t.id)`,
  'every session has its first refresh token (a login is all or nothing)': `
    SELECT s.id FROM sessions s
    WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id AND t.parent_id IS NULL)`,
  "a child belongs to its parent's family": `
    SELECT c.id FROM refresh_tokens c JOIN refresh_tokens p ON p.id = c.parent_id
    WHERE c.session_id <> p.session_id`,
  'a child is issued no earlier than its parent was consumed': `
    SELECT c.id FROM refresh_tokens c JOIN refresh_tokens p ON p.id = c.parent_id
    WHERE p.consumed_at IS NULL OR c.issued_at < p.consumed_at`,
  "every revoked session is covered by a revocation entry written in the same transaction (its own, or its user's)": `
    SELECT s.id FROM sessions s
    -- (the log forgets entries once no access token they cover can be valid: look at recent ones)
    WHERE s.revoked_at > now() - interval '5 minutes'
      AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'session' AND r.key = s.id::text)
      AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'user' AND r.key = s.user_id::text AND r.created_at >= s.revoked_at)`,
  'every session revocation entry names a revoked session': `
    SELECT r.id FROM revocations r JOIN sessions s ON r.kind = 'session' AND r.key = s.id::text
    WHERE s.revoked_at IS NULL`,
};

/** The violated rules, each with up to five offending rows; empty when all hold. */
export async function invariantViolations(knex: Knex): Promise<string[]> {
  const violations: string[] = [];
  for (const [rule, sql] of Object.entries(RULES)) {
    const result = await knex.raw(`${sql} LIMIT 5`);
    const rows = result.rows as unknown[];
    if (rows.length > 0) violations.push(`${rule}: ${JSON.stringify(rows)}`);
  }
  return violations;
}

/** Families in which a token can still be refreshed: live session, unconsumed token. */
export async function liveTokens(knex: Knex, sessionId: string): Promise<number> {
  const result = await knex.raw(
    `SELECT count(*) AS n FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
     WHERE t.session_id = ? AND t.consumed_at IS NULL AND s.revoked_at IS NULL`,
    [sessionId],
  );
  return Number((result.rows as Array<{ n: unknown }>)[0]?.n);
}
