// How the body of an incoming request is delimited, as Node's parser read it.
// The gateway re-frames every forwarded request from this, never from the
// client's header text: an upstream must see exactly the body the gateway
// received, so that nothing in it can be read as a second request
// (request smuggling, RFC 9112 §11.2).
//
// Node's parser already refuses Content-Length together with Transfer-Encoding,
// duplicate or malformed Content-Length, duplicate Transfer-Encoding and a
// Transfer-Encoding whose last coding is not chunked (400 via clientError).
// What it lets through and we cannot forward faithfully, we refuse here.
import type { IncomingHttpHeaders } from 'node:http';

export type RequestFraming =
  /** No body: neither Content-Length nor Transfer-Encoding. */
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** A body we cannot forward as received; answered with 400. */
  | { kind: 'unsupported'; reason: string };

const NONE: RequestFraming = { kind: 'none' };
const CHUNKED: RequestFraming = { kind: 'chunked' };

export function requestFraming(headers: IncomingHttpHeaders): RequestFraming {
  const transferEncoding = headers['transfer-encoding'];
  if (transferEncoding !== undefined) {
    // `gzip, chunked` passes Node's parser, which decodes the chunks but not the gzip
    // transfer coding: re-framed as plain chunked, the upstream would get other bytes.
    if (transferEncoding.trim().toLowerCase() !== 'chunked') {
      return { kind: 'unsupported', reason: 'only the chunked transfer coding is supported' };
    }
    return CHUNKED;
  }
  const contentLength = headers['content-length'];
  if (contentLength === undefined) return NONE;
  // Node has checked it is one run of digits; this only guards the conversion.
  const length = Number(contentLength);
  if (!Number.isSafeInteger(length) || length < 0) return { kind: 'unsupported', reason: 'invalid Content-Length' };
  return length === 0 ? NONE : { kind: 'length', length };
}
