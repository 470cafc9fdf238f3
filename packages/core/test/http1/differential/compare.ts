// Compares our parsing with llhttp's and names the differences we keep on purpose (listed and
// justified in docs/http1-differential.md).
import { llhttpParse, type ReferenceOutcome } from './llhttp.ts'
import type { OurOutcome, OurResponseOutcome } from './ours.ts'

/** How many of llhttp's fields are trailers: those past the ones we kept (by name order). */
function countTrailers(
  r: { headers: [string, string][] },
  a: { headers: [string, string][] },
): number {
  const extra = r.headers.length - a.headers.length
  // Ours dropped Content-Length for a Transfer-Encoding; only one ending in chunked has trailers.
  const chunked =
    a.headers.some(([n]) => n.toLowerCase() === 'transfer-encoding') && !teNotChunked(a.headers)
  // Ours may also have dropped one Content-Length (TE wins) or collapsed duplicates: those are
  // filtered by norm(); only a chunked message can have trailers.
  return chunked && extra > 0 ? extra : 0
}

function norm(headers: [string, string][], dropHost: boolean): string {
  return JSON.stringify(
    headers
      .filter(([n]) => {
        const lower = n.toLowerCase()
        return lower !== 'content-length' && !(dropHost && lower === 'host')
      })
      .map(([n, v]) => [n, v.replace(/^[ \t]+|[ \t]+$/g, '')]),
  )
}

/**
 * Describes how the outcomes differ (accept/reject, method, target, version, headers, body
 * boundaries), or `undefined` when they agree.
 */
export function difference(
  ours: OurOutcome,
  ref: ReferenceOutcome,
): { index: number; kind: 'content' | 'stricter' | 'lenient'; text: string } | undefined {
  // llhttp keeps parsing after a message that closes the connection and then fails with
  // CLOSED_CONNECTION; we stop there: compare up to that message.
  let refMessages = ref.messages
  let refError = ref.error
  const closeAt = refMessages.findIndex((m) => !m.keepAlive)
  if (closeAt !== -1) {
    refMessages = refMessages.slice(0, closeAt + 1)
    refError = undefined
  }
  // A message that is not complete yet is no error for llhttp either.
  if (refError === 'PAUSED_UPGRADE') refError = undefined
  const count = Math.min(ours.messages.length, refMessages.length)
  for (let i = 0; i < count; i++) {
    const a = ours.messages[i]
    const r = refMessages[i]
    if (a === undefined || r === undefined) break
    const content = (text: string) => ({ index: i, kind: 'content' as const, text })
    if (a.method !== r.method) return content(`method ${a.method} vs ${r.method}`)
    if (a.target !== r.target) return content(`target ${a.target} vs ${r.target}`)
    if (a.version !== r.version) return content(`version ${a.version} vs ${r.version}`)
    const dropHost = !a.target.startsWith('/')
    // llhttp reports trailer fields with the header fields; we check and drop them.
    const refHeaders = r.headers.slice(0, r.headers.length - countTrailers(r, a))
    if (norm(a.headers, dropHost) !== norm(refHeaders, dropHost))
      return content(`headers ${norm(a.headers, dropHost)} vs ${norm(r.headers, dropHost)}`)
    if (!a.body.equals(r.body)) return content(`body ${a.body.length} vs ${r.body.length} bytes`)
    if (a.keepAlive !== r.keepAlive) return content(`keep-alive ${a.keepAlive} vs ${r.keepAlive}`)
  }
  const why = `ours ${ours.error ?? 'ok'} ${ours.reason}; llhttp ${refError ?? 'ok'} ${ref.reason}`
  if (ours.messages.length < refMessages.length) {
    // llhttp completed a message we did not: we rejected it (or wait for more of it).
    return { index: count, kind: 'stricter', text: why }
  }
  if (ours.messages.length > refMessages.length) {
    return { index: count, kind: 'lenient', text: why }
  }
  if (ours.error !== undefined && refError === undefined) {
    return { index: count, kind: 'stricter', text: why }
  }
  if (ours.error === undefined && refError !== undefined) {
    return { index: count, kind: 'lenient', text: why }
  }
  return undefined
}

/** Differences we keep on purpose, by why we rejected (we are stricter). */
const STRICTER: [RegExp, string][] = [
  [/missing Host|duplicate Host|invalid Host|invalid authority/, 'host'],
  [
    /invalid request target form|empty request target|invalid byte in request target/,
    'request-target',
  ],
  [
    /Transfer-Encoding on HTTP\/1\.0|chunked applied more than once|final Transfer-Encoding is not chunked/,
    'transfer-encoding',
  ],
  [/invalid HTTP version/, 'version'],
  [/bare LF|bare CR|invalid request line ending|invalid method|invalid header line/, 'line-syntax'],
  [/chunk size too large/, 'chunk-size-range'],
  [/chunk extension/, 'chunk-extension-syntax'],
]

/** Differences we keep on purpose, by why llhttp rejected what we accept (we are more lenient). */
const LENIENT: [RegExp, string][] = [
  [/^INVALID_METHOD/, 'extension-method'],
  [/can't be present with/, 'transfer-encoding-with-content-length'],
  [/^INVALID_CONTENT_LENGTH Invalid character in Content-Length/, 'content-length-list'],
  [/^UNEXPECTED_CONTENT_LENGTH Duplicate Content-Length/, 'content-length-list'],
  [/^INVALID_CHUNK_SIZE|^STRICT Invalid character in chunk extension/, 'chunk-extension-bws'],
  [/^INVALID_VERSION/, 'version-minor'],
  [/^INVALID_URL/, 'request-target-bytes'],
  [/^INVALID_TRANSFER_ENCODING Invalid `Transfer-Encoding` header value/, 'trailer-fields'],
]

/**
 * The input with every HTAB in a Transfer-Encoding field line turned into SP, or `undefined`
 * when it has none. RFC 9110 §5.6.1: OWS (SP or HTAB) around list elements is not part of the
 * value; llhttp refuses HTAB there (a trailing SP it accepts).
 */
function spacedTransferEncoding(input: readonly Buffer[]): Buffer | undefined {
  const text = Buffer.concat(input).toString('latin1')
  const spaced = text.replace(
    /(^|\n)(transfer-encoding:[^\r\n]*)/gi,
    (_, start, line: string) => `${start}${line.replaceAll('\t', ' ')}`,
  )
  return spaced === text ? undefined : Buffer.from(spaced, 'latin1')
}

/**
 * The name of the deliberate difference (listed in docs/http1-differential.md) a difference
 * is, or `undefined` when it is a disagreement to fix.
 * @param input - the input as it was split; names the differences only the input shows
 */
export function deliberate(
  diff: { kind: 'content' | 'stricter' | 'lenient'; text: string },
  ours: OurOutcome,
  ref: ReferenceOutcome,
  input?: readonly Buffer[],
): string | undefined {
  if (diff.kind === 'content') {
    // Connection is read from header fields only (never trailers), and `close` wins over
    // `keep-alive` when both are listed.
    return diff.text.startsWith('keep-alive') ? 'connection-semantics' : undefined
  }
  if (diff.kind === 'stricter') {
    if (ours.error === undefined) return undefined
    return STRICTER.find(([pattern]) => pattern.test(ours.reason))?.[1]
  }
  const text = `${ref.error ?? ''} ${ref.reason}`
  const name = LENIENT.find(([pattern]) => pattern.test(text))?.[1]
  if (name !== undefined || ref.error !== 'INVALID_TRANSFER_ENCODING' || input === undefined) {
    return name
  }
  // transfer-encoding-ows: llhttp agrees once the HTABs around the codings are spaces.
  const spaced = spacedTransferEncoding(input)
  if (spaced === undefined) return undefined
  const again = llhttpParse('request', [spaced])
  return difference(ours, again) === undefined ? 'transfer-encoding-ows' : undefined
}

/** Our chunked decoder's outcome against llhttp's for the same body. */
export function chunkedDifference(
  ours: { body: Buffer; done: boolean; error: string | undefined },
  ref: ReferenceOutcome,
): string | undefined {
  const message = ref.messages[0]
  // Bytes after the body's end are the next message's business (llhttp goes on parsing them).
  const refError = message === undefined ? ref.error : undefined
  if (ours.error !== undefined && refError === undefined) {
    if (/chunk extension/.test(ours.error)) return undefined // chunk-extension-syntax
    if (/chunk size too large/.test(ours.error)) return undefined // chunk-size-range
    return `stricter: ours ${ours.error}; llhttp ok`
  }
  if (ours.error === undefined && refError !== undefined) {
    // chunk-extension-bws: BWS around ';' and '=' (RFC 9112 §7.1.1), refused by llhttp.
    if (refError === 'INVALID_CHUNK_SIZE' || /chunk extension/.test(ref.reason)) return undefined
    if (/Transfer-Encoding|Content-Length/.test(ref.reason)) return undefined // trailer-fields
    return `lenient: ours ok; llhttp ${refError} ${ref.reason}`
  }
  if (ours.error !== undefined) return undefined
  if (ours.done !== (message !== undefined)) {
    return `end of body: ours ${ours.done ? 'done' : 'waiting'}; llhttp ${message ? 'done' : 'waiting'}`
  }
  if (message !== undefined && !ours.body.equals(message.body)) {
    return `body ${ours.body.length} vs ${message.body.length} bytes`
  }
  return undefined
}

/** Whether the fields have a Transfer-Encoding whose last coding is not `chunked` (or empty). */
function teNotChunked(headers: readonly [string, string][]): boolean {
  const te = headers.filter(([n]) => /^transfer-encoding$/i.test(n))
  const last = te
    .map(([, v]) => v)
    .join(',')
    .split(',')
    .pop()
    ?.trim()
    .toLowerCase()
  return te.length > 0 && last !== 'chunked'
}

/** Differences we keep on purpose in responses, by why we rejected (we are stricter). */
const RESPONSE_STRICTER: [RegExp, string][] = [
  [/invalid status code/, 'status-code'],
  [/invalid status line/, 'reason-phrase'],
  [/invalid HTTP version/, 'version'],
  [/bare LF|bare CR|invalid header (line|name|value|section)/, 'line-syntax'],
  [/chunk size too large/, 'chunk-size-range'],
  [/chunk extension/, 'chunk-extension-syntax'],
]

/** Differences we keep on purpose in responses, by why llhttp rejected what we accept. */
const RESPONSE_LENIENT: [RegExp, string][] = [
  ...LENIENT.filter(([, name]) => name !== 'extension-method' && name !== 'request-target-bytes'),
  [
    /^UNEXPECTED_CONTENT_LENGTH Content-Length can't be present with Transfer-Encoding/,
    'transfer-encoding-with-content-length',
  ],
  [
    /^INVALID_CONTENT_LENGTH Content-Length can't be present with Transfer-Encoding/,
    'transfer-encoding-with-content-length',
  ],
  // Only reached with Transfer-Encoding: without it an invalid Content-Length is refused.
  [/^INVALID_CONTENT_LENGTH Empty Content-Length/, 'transfer-encoding-with-content-length'],
]

/** A response-side difference, named when it is deliberate. */
export interface ResponseDifference {
  text: string
  /** The deliberate difference's name (docs/http1-differential.md), or `undefined`. */
  deliberate: string | undefined
}

/**
 * Parses the same responses with llhttp and compares: accept or reject, and for each response
 * read (1xx included) its status, version, header fields, body bytes and, for final
 * responses, whether the connection stays open.
 * @param ours - what our client session made of the input
 * @param methods - the request methods (HEAD responses have no body)
 * @param pieces - the input as it was split
 * @param eof - whether the origin closed after the input
 */
export function responseDisagreement(
  ours: OurResponseOutcome,
  methods: readonly string[],
  pieces: readonly Buffer[],
  eof: boolean,
): ResponseDifference | undefined {
  const found = compareResponses(ours, methods, pieces, eof)
  if (found === undefined || found.deliberate !== undefined) return found
  // transfer-encoding-ows: llhttp does not take `chunked` followed by a HTAB as chunked (in a
  // response it then reads to the close); it agrees once the HTABs are spaces.
  const spaced = spacedTransferEncoding(pieces)
  if (spaced !== undefined) {
    const again = compareResponses(ours, methods, [spaced], eof)
    if (again === undefined || again.deliberate !== undefined) {
      return { text: found.text, deliberate: 'transfer-encoding-ows' }
    }
  }
  // empty-line-before-response: llhttp skips CR and LF before a status line; we refuse them (a
  // head that starts with an empty line), and a close after them is a close inside a head.
  if (ours.emptyLineBeforeHead && ours.error !== undefined) {
    return { text: found.text, deliberate: 'empty-line-before-response' }
  }
  return found
}

function compareResponses(
  ours: OurResponseOutcome,
  methods: readonly string[],
  pieces: readonly Buffer[],
  eof: boolean,
): ResponseDifference | undefined {
  const ref = llhttpParse('response', pieces, eof, methods)
  // llhttp ends the connection after a 1xx that is HTTP/1.0 or says `close`; the final
  // response decides that for us (a 1xx is interim, RFC 9110 §15.2).
  const informationalClose =
    ref.error === 'CLOSED_CONNECTION' && ref.messages.some((m) => m.status < 200 && !m.keepAlive)
  const named = (text: string, name: string | undefined): ResponseDifference => ({
    text,
    // A 1xx response ends at its header section (RFC 9110 §15.2): we ignore framing fields in
    // it, llhttp reads a body for 1xx codes other than 100, 102 and 103 and checks the fields.
    deliberate: informationalClose
      ? 'informational-connection'
      : ours.messages.some(
            (m) =>
              m.status < 200 &&
              m.headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n)),
          )
        ? 'informational-no-content'
        : name,
  })
  // We read one final response per request and stop after one that ends the connection:
  // compare llhttp's messages up to the same point.
  let refMessages = ref.messages
  let refError = ref.error
  let finals = 0
  for (let i = 0; i < refMessages.length; i++) {
    const m = refMessages[i] as (typeof refMessages)[number]
    if (m.status < 200) continue
    finals++
    if (finals === methods.length || !m.keepAlive) {
      refMessages = refMessages.slice(0, i + 1)
      refError = undefined
      break
    }
  }
  if (refError === 'PAUSED_UPGRADE') refError = undefined
  const count = Math.min(ours.messages.length, refMessages.length)
  for (let i = 0; i < count; i++) {
    const a = ours.messages[i]
    const r = refMessages[i]
    if (a === undefined || r === undefined) break
    const content = (text: string): ResponseDifference =>
      named(`content at response ${i}: ${text}`, undefined)
    if (a.status !== r.status) return content(`status ${a.status} vs ${r.status}`)
    if (a.version !== r.version) return content(`version ${a.version} vs ${r.version}`)
    const refHeaders = r.headers.slice(0, r.headers.length - countTrailers(r, a))
    if (norm(a.headers, false) !== norm(refHeaders, false))
      return content(`headers ${norm(a.headers, false)} vs ${norm(r.headers, false)}`)
    if (!a.body.equals(r.body)) {
      // RFC 9112 §6.3 (item 4): a Transfer-Encoding not ending in chunked (an empty one
      // included) makes the body close-delimited; llhttp ignores an empty one and uses
      // Content-Length.
      const closeDelimited = !a.keepAlive && teNotChunked(a.headers)
      return named(
        `content at response ${i}: body ${a.body.length} vs ${r.body.length} bytes`,
        closeDelimited ? 'transfer-encoding' : undefined,
      )
    }
    if (a.status >= 200 && a.keepAlive !== r.keepAlive) {
      // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; the
      // connection is closed after it.
      const te10 =
        a.version === 'HTTP/1.0' && a.headers.some(([n]) => /^transfer-encoding$/i.test(n))
      return named(
        `content at response ${i}: keep-alive ${a.keepAlive} vs ${r.keepAlive}`,
        te10 ? 'transfer-encoding' : 'connection-semantics',
      )
    }
  }
  const why = `ours ${ours.error ?? 'ok'} ${ours.reason}; llhttp ${refError ?? 'ok'} ${ref.reason}`
  // llhttp rejects a head byte by byte; we check a head once it is complete: with the input
  // ending inside a head we have not refused it yet (and will, once it ends).
  if (
    refError !== undefined &&
    ours.error === undefined &&
    ours.waiting === 'head' &&
    ours.messages.length === refMessages.length
  ) {
    return { text: `head not complete yet: ${why}`, deliberate: 'head-checked-when-complete' }
  }
  let kind: 'stricter' | 'lenient' | undefined
  if (ours.messages.length < refMessages.length) kind = 'stricter'
  else if (ours.messages.length > refMessages.length) kind = 'lenient'
  else if (ours.error !== undefined && refError === undefined) kind = 'stricter'
  else if (ours.error === undefined && refError !== undefined) kind = 'lenient'
  if (kind === undefined) return undefined
  const text = `${kind} at response ${count}: ${why}`
  if (kind === 'stricter' && ours.error === undefined && ours.waiting === 'body') {
    // RFC 9112 §6.3: a response whose Transfer-Encoding does not end in chunked (an empty one
    // included) is read until the connection closes; llhttp ignores an empty one.
    if (teNotChunked(ours.waitingHeaders)) return named(text, 'transfer-encoding')
  }
  if (kind === 'lenient' && refError === 'INVALID_EOF_STATE') {
    // transfer-encoding: we read the body to the close (a Transfer-Encoding not ending in
    // chunked), llhttp waited for the Content-Length it kept and calls the close an error.
    const accepted = ours.messages[count]
    if (accepted !== undefined && !accepted.keepAlive && teNotChunked(accepted.headers)) {
      return named(text, 'transfer-encoding')
    }
  }
  if (kind === 'stricter') {
    // A head we refused because it starts with an empty line is not a version difference.
    const name =
      ours.error === undefined || ours.emptyLineBeforeHead
        ? undefined
        : RESPONSE_STRICTER.find(([pattern]) => pattern.test(ours.reason))?.[1]
    return named(text, name)
  }
  const refText = `${ref.error ?? ''} ${ref.reason}`
  return named(text, RESPONSE_LENIENT.find(([pattern]) => pattern.test(refText))?.[1])
}
