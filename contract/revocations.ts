// The revocation log as gateways read it: catch-up pages and stream events
// (docs/WIRE-CONTRACT.md, "Revocation log").
import { z } from 'zod';

export const revocationEntrySchema = z.object({
  /** The cursor: ids increase, and become visible in order. */
  id: z.number().int().nonnegative(),
  kind: z.enum(['session', 'user', 'token']),
  /** A `sid`, a `sub` or a `jti`, by kind. */
  key: z.string().min(1),
  /** kind "user": tokens with `iat` up to this instant (ISO-8601, compared in seconds) are revoked. */
  not_before: z.string().nullable().optional(),
  /** After this instant no token the entry covers can still be valid. */
  expires_at: z.string(),
  /** When the token service wrote the entry (informational; gateways measure propagation with it). */
  created_at: z.string().optional(),
});

export type RevocationEntry = z.infer<typeof revocationEntrySchema>;
export type RevocationKind = RevocationEntry['kind'];

/** `GET /revocations?after=CURSOR&limit=N`. */
export const catchUpPageSchema = z.object({
  revocations: z.array(revocationEntrySchema),
  cursor: z.number().int().nonnegative(),
  has_more: z.boolean(),
});

export type CatchUpPage = z.infer<typeof catchUpPageSchema>;
