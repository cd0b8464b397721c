// The apps a user signed in to, for the account pages (Bearer, account audience):
// GET /auth/signin-sessions: live sign-in sessions (single sign-on), each with
// the apps whose tokens came through it; DELETE /auth/signin-sessions/:id ends
// one (every app's tokens with it). GET /auth/consents: what third-party apps
// were allowed; DELETE /auth/consents/:client_id withdraws it and revokes that
// app's tokens.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { NotFound } from '../errors.ts';
import { requireLiveBearer } from '../auth/bearer.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { recordAudit } from '../models/audit.ts';
import { listConsents, withdrawConsent } from '../models/consents.ts';
import { endSigninSession, findSigninSession, listLiveSigninSessions } from '../models/signin-sessions.ts';

export function listSigninSessionsEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { claims, session } = await requireLiveBearer(ctx, service);
    const rows = await listLiveSigninSessions(service.knex, claims.sub, service.now());
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      signin_sessions: rows.map((row) => ({
        id: row.id,
        signed_in_at: row.auth_time.toISOString(),
        expires_at: row.expires_at.toISOString(),
        user_agent: row.user_agent,
        ip: row.ip,
        apps: row.client_ids,
        current: row.id === session.signin_session_id,
      })),
    };
  };
}

export function endSigninSessionEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { claims } = await requireLiveBearer(ctx, service);
    const signin = await findSigninSession(service.knex, String(ctx.params.id));
    // Someone else's sign-in is indistinguishable from one that does not exist.
    if (!signin || signin.user_id !== claims.sub) throw new NotFound('no such sign-in session');
    const info = requestInfo(ctx);
    const revoked = await service.knex.transaction(async (trx) => {
      const { ended, familiesRevoked } = await endSigninSession(trx, signin.id, {
        reason: 'revoked_by_user',
        accessTokenLifetimeMs: service.config.ACCESS_TOKEN_TTL,
        now: service.now(),
      });
      if (ended || familiesRevoked.length > 0) {
        await recordAudit(trx, {
          type: 'signin_session_ended',
          userId: claims.sub,
          clientId: claims.client_id,
          ip: info.ip,
          userAgent: info.userAgent,
          details: { signin_session: signin.id, via: 'sessions_api', families_revoked: familiesRevoked.length },
        });
      }
      return familiesRevoked;
    });
    service.metrics.revocations.inc({ kind: 'session' }, revoked.length);
    ctx.status = 204;
  };
}

export function listConsentsEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { claims } = await requireLiveBearer(ctx, service);
    const consents = await listConsents(service.knex, claims.sub);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      consents: consents.map((consent) => ({
        client_id: consent.client_id,
        scopes: consent.scopes,
        granted_at: consent.granted_at.toISOString(),
      })),
    };
  };
}

export function withdrawConsentEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { claims } = await requireLiveBearer(ctx, service);
    const clientId = String(ctx.params.client_id);
    const info = requestInfo(ctx);
    const outcome = await service.knex.transaction(async (trx) => {
      const result = await withdrawConsent(trx, claims.sub, clientId, {
        accessTokenLifetimeMs: service.config.ACCESS_TOKEN_TTL,
        now: service.now(),
      });
      if (result.withdrawn) {
        await recordAudit(trx, {
          type: 'consent_withdrawn',
          userId: claims.sub,
          clientId,
          ip: info.ip,
          userAgent: info.userAgent,
          details: { families_revoked: result.familiesRevoked.length },
        });
      }
      return result;
    });
    if (!outcome.withdrawn) throw new NotFound('no consent for this client');
    service.metrics.revocations.inc({ kind: 'session' }, outcome.familiesRevoked.length);
    ctx.status = 204;
  };
}
