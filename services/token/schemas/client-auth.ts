// Client credentials sent in the body (RFC 6749 §2.3.1; client_secret_post, or
// client_id alone for a public client), read by every endpoint that
// authenticates a client. HTTP Basic is the other way (helpers/client-auth.ts).
import { z } from 'zod';
import { parameter } from './parameters.ts';

export const clientAuthParams = z.object({
  client_id: parameter(255).optional(),
  client_secret: parameter(1024).optional(),
});
