import type { Knex } from 'knex';

export type AuditEventType =
  | 'user_registered'
  | 'login_succeeded'
  | 'login_failed'
  | 'token_refreshed'
  | 'refresh_token_reused'
  | 'logout'
  | 'session_revoked'
  | 'access_token_revoked'
  | 'client_credentials_issued'
  | 'key_rotated'
  | 'client_created'
  | 'client_updated'
  | 'user_disabled'
  | 'user_enabled'
  | 'signin_session_ended'
  | 'authorization_code_issued'
  | 'authorization_code_reused'
  | 'consent_granted'
  | 'consent_withdrawn';

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | null;
  sessionId?: string | null;
  clientId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
}

export async function recordAudit(knex: Knex, event: AuditEvent): Promise<void> {
  await knex('audit_events').insert({
    type: event.type,
    user_id: event.userId ?? null,
    session_id: event.sessionId ?? null,
    client_id: event.clientId ?? null,
    ip: event.ip ?? null,
    user_agent: event.userAgent ?? null,
    details: event.details ? JSON.stringify(event.details) : null,
  });
}
