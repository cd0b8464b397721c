// What the gateway knows of a caller once its access token is verified: the
// contract's claims (contract/access-token.ts), shaped for the pipeline.
import type { AccessTokenClaims } from '../../contract/access-token.ts';

export interface VerifiedClaims extends Readonly<Pick<AccessTokenClaims, 'sub' | 'sid' | 'jti' | 'iat' | 'exp'>> {
  /** `aud`, always as a list. */
  readonly aud: readonly string[];
  /** `scope`, split on spaces. */
  readonly scopes: readonly string[];
  /** `client_id`. */
  readonly clientId: AccessTokenClaims['client_id'] | undefined;
}
