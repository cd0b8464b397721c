// The server's 'clientError': bytes that never became a request Node could hand
// to the request handler (malformed, headers too large or too slow). They get
// the status Node itself would send, as the gateway's JSON error, and the
// connection closes.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { reject, writeRejectionToSocket } from './pipeline/rejection.ts';

export function handleClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  // A pipelined request went bad (or came after `Connection: close`) while an earlier
  // response is still due. Nothing may be written that the peer, or a proxy in front,
  // would take for that response: the pending response becomes the connection's last.
  const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (pending) {
    if (pending.writableFinished) socket.destroy();
    else pending.once('finish', () => socket.end(() => socket.destroy()));
    return;
  }
  // A HEAD request gets no body, even in an error; the bytes received tell whether it was one.
  const head = { head: (error as { rawPacket?: Buffer }).rawPacket?.toString('latin1', 0, 5) === 'HEAD ' };
  // Headers over the size limit are 431, headers or a request too slow to arrive
  // (headersTimeout, requestTimeout) are 408; other garbage is 400.
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return writeRejectionToSocket(socket, reject(431, 'request_header_fields_too_large', 'request headers too large'), {}, head);
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return writeRejectionToSocket(socket, reject(408, 'request_timeout', 'request not received in time'), {}, head);
  }
  writeRejectionToSocket(socket, reject(400, 'invalid_request', 'malformed HTTP request'), {}, head);
}
