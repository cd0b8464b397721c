// POST /admin/commands/:name: the admin operations, for `authctl` while this
// service holds the embedded database (which only one process may open).
// Enabled only then, and guarded by a random credential written at start to
// DATA_DIR/admin.json, readable only by the service's own user.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { HttpError, NotFound } from '../errors.ts';
import { adminOperations, isAdminCommand } from '../admin/operations.ts';
import { bodyParams, requireMediaType } from '../helpers/params.ts';
import { bearerSecretMatches } from '../../../common/secrets.ts';

class AdminUnauthorized extends HttpError {
  constructor() {
    super(401, 'unauthorized', 'admin credential required', { 'WWW-Authenticate': 'Bearer realm="admin"' });
  }
}

export function adminCommandEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const expected = service.adminToken;
    if (!expected) throw new NotFound('no such endpoint');
    if (!bearerSecretMatches(ctx.get('authorization'), expected)) throw new AdminUnauthorized();
    const name = String(ctx.params.name);
    if (!isAdminCommand(name)) throw new NotFound(`no admin command ${name}`);
    requireMediaType(ctx, ['json']);
    const result = await adminOperations[name](service, bodyParams(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { result };
  };
}
