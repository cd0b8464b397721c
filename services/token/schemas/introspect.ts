// POST /oauth/introspect (RFC 7662 §2.1). The client's credentials: client-auth.ts.
import { z } from 'zod';
import { parameter } from './parameters.ts';

export const introspectParams = z.object({
  token: parameter(8192),
  token_type_hint: parameter(64).optional(),
});
