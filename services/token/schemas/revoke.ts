// POST /oauth/revoke (RFC 7009 §2.1). The client's credentials: client-auth.ts.
import { z } from 'zod';
import { parameter } from './parameters.ts';

export const revokeParams = z.object({
  token: parameter(8192),
  // Only a hint: we tell the kinds apart anyway.
  token_type_hint: parameter(64).optional(),
});
