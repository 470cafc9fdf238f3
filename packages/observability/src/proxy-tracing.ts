import diagnosticsChannel from 'node:diagnostics_channel'
import {
  type Context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import type { HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import type { RequestHeader } from '@pingora-ts/http'
import {
  CHANNEL_NAMES as PROXY_CHANNELS,
  type ProxyErrorMessage,
  type RequestFinishedMessage,
  type RequestStartedMessage,
  type Session,
  type UpstreamConnectedMessage,
  type UpstreamFailedMessage,
  type UpstreamRespondedMessage,
} from '@pingora-ts/proxy'

/** Options of {@link ProxyTracing}. */
export interface ProxyTracingOptions {
  /**
   * The tracer spans are started with.
   * @defaultValue `trace.getTracer('@pingora-ts/observability')` (the global provider's)
   */
  readonly tracer?: Tracer
}

/** The spans of one request while it runs. */
interface RequestSpans {
  readonly server: Span
  readonly context: Context
  /** The span of the current upstream attempt. */
  client: Span | undefined
}

// Reads the downstream request's headers for the propagator (traceparent, tracestate, baggage).
const REQUEST_GETTER: TextMapGetter<Session> = {
  get: (session, key) => session.getHeader(key),
  keys: (session) => {
    const headers = session.requestHeader.headers
    const names: string[] = []
    for (let i = 0; i < headers.size; i++) names.push(headers.lowerNameAt(i))
    return names
  },
}

// Writes the propagation headers into the request that goes upstream.
const REQUEST_SETTER: TextMapSetter<RequestHeader> = {
  set: (header, key, value) => header.insertHeader(key, value),
}

const INSTRUMENTATION = '@pingora-ts/observability'

/**
 * OpenTelemetry tracing of the proxy, from the diagnostics channels, through
 * `@opentelemetry/api` only (register any SDK; without one, the API's no-op tracer makes this
 * free). Per request:
 *
 * - a **server** span (`SpanKind.SERVER`) from the request header to the end of the exchange,
 *   continuing the trace of the client's W3C `traceparent`/`tracestate` (with the globally
 *   registered propagator);
 * - a **client** span (`SpanKind.CLIENT`) per upstream attempt, child of the server span, so a
 *   retried request shows one span per try; the attempt's context is propagated upstream in the
 *   request header (`traceparent`, `tracestate`);
 * - attributes after the HTTP semantic conventions (`http.request.method`, `url.path`,
 *   `url.scheme`, `server.address`, `server.port`, `client.address`, `network.peer.address`,
 *   `network.peer.port`, `user_agent.original`, `http.response.status_code`,
 *   `http.request.resend_count`, `error.type`), and errors recorded as exceptions with an error
 *   status.
 *
 * @example
 * ```ts
 * // after registering an SDK (NodeTracerProvider, an exporter, the W3C propagator)
 * new ProxyTracing().enable()
 * ```
 */
export class ProxyTracing {
  /** The tracer spans are started with. */
  readonly tracer: Tracer
  readonly #requests = new WeakMap<Session, RequestSpans>()
  #subscriptions: Array<[string, (message: unknown) => void]> = []

  /**
   * Builds the tracing; call {@link ProxyTracing.enable} to start.
   * @param options - the tracer
   */
  constructor(options: ProxyTracingOptions = {}) {
    this.tracer = options.tracer ?? trace.getTracer(INSTRUMENTATION)
  }

  /**
   * Subscribes to the diagnostics channels, if an SDK is registered: call it after registering
   * your tracer provider. Without one the API can only hand out no-op spans, so nothing is
   * subscribed and requests pay nothing (a client's `traceparent` still reaches the upstream:
   * the proxy forwards request headers as they are). Idempotent.
   * @returns this
   */
  enable(): this {
    if (this.#subscriptions.length > 0) return this
    // The no-op API's spans have an invalid context; any SDK's have a valid one, sampled or not.
    // The probe is never ended, so no processor ever exports it.
    if (!isSpanContextValid(this.tracer.startSpan('probe').spanContext())) return this
    this.#subscriptions = [
      [PROXY_CHANNELS.requestStarted, (m) => this.#onRequestStarted(m as RequestStartedMessage)],
      [
        PROXY_CHANNELS.upstreamConnected,
        (m) => this.#onUpstreamConnected(m as UpstreamConnectedMessage),
      ],
      [
        PROXY_CHANNELS.upstreamResponded,
        (m) => this.#onUpstreamResponded(m as UpstreamRespondedMessage),
      ],
      [PROXY_CHANNELS.upstreamFailed, (m) => this.#onUpstreamFailed(m as UpstreamFailedMessage)],
      [PROXY_CHANNELS.proxyError, (m) => this.#onProxyError(m as ProxyErrorMessage)],
      [PROXY_CHANNELS.requestFinished, (m) => this.#onRequestFinished(m as RequestFinishedMessage)],
    ]
    for (const [name, listener] of this.#subscriptions) diagnosticsChannel.subscribe(name, listener)
    return this
  }

  /** Whether {@link ProxyTracing.enable} subscribed (an SDK was registered). */
  get enabled(): boolean {
    return this.#subscriptions.length > 0
  }

  /** Unsubscribes from the channels (spans already started are ended with their requests). */
  disable(): void {
    for (const [name, listener] of this.#subscriptions) {
      diagnosticsChannel.unsubscribe(name, listener)
    }
    this.#subscriptions = []
  }

  #onRequestStarted(message: RequestStartedMessage): void {
    const session = message.session
    const header = session.requestHeader
    const parent = propagation.extract(ROOT_CONTEXT, session, REQUEST_GETTER)
    const isTls = session.digest.tls !== undefined
    const span = this.tracer.startSpan(
      header.method,
      {
        kind: SpanKind.SERVER,
        startTime: performance.timeOrigin + session.timing.start,
        attributes: {
          'http.request.method': header.method,
          'url.path': pathOf(header.uri),
          'url.scheme': isTls ? 'https' : 'http',
          'network.protocol.version': session.downstreamSession.protocol === 'h2' ? '2' : '1.1',
        },
      },
      parent,
    )
    if (!span.isRecording()) {
      // Not sampled: nothing to record. The client's trace context still travels upstream
      // (the request headers are forwarded as they are).
      return
    }
    const query = queryOf(header.uri)
    if (query !== undefined) span.setAttribute('url.query', query)
    const host = session.getHeader('host')
    if (host !== undefined) {
      const { name, port } = splitHost(host)
      span.setAttribute('server.address', name)
      span.setAttribute('server.port', port ?? (isTls ? 443 : 80))
    }
    const client = session.clientAddr
    if (client !== undefined) {
      span.setAttribute('client.address', client.address)
      span.setAttribute('network.peer.address', client.address)
      if (client.port !== 0) span.setAttribute('network.peer.port', client.port)
    }
    const agent = session.getHeader('user-agent')
    if (agent !== undefined) span.setAttribute('user_agent.original', agent)
    this.#requests.set(session, {
      server: span,
      context: trace.setSpan(parent, span),
      client: undefined,
    })
  }

  #onUpstreamConnected(message: UpstreamConnectedMessage): void {
    const session = message.session
    const spans = this.#requests.get(session)
    if (spans === undefined) return
    // A previous attempt not already ended by `upstreamFailed` ends now.
    spans.client?.end()
    const header = session.requestHeader
    const start = session.timing.upstreamAttemptStart ?? session.timing.upstreamConnected
    const span = this.tracer.startSpan(
      header.method,
      {
        kind: SpanKind.CLIENT,
        startTime: start === undefined ? undefined : performance.timeOrigin + start,
        attributes: peerAttributes(message.peer, header.method, session.retries),
      },
      spans.context,
    )
    const peerAddr = message.digest?.peerAddr
    if (peerAddr !== undefined && span.isRecording()) {
      span.setAttribute('network.peer.address', peerAddr.address)
      if (peerAddr.port !== 0) span.setAttribute('network.peer.port', peerAddr.port)
    }
    spans.client = span
    // The upstream request is cloned from this header after this event: it carries the
    // attempt's context (W3C traceparent/tracestate with the global propagator).
    propagation.inject(trace.setSpan(spans.context, span), header, REQUEST_SETTER)
  }

  #onUpstreamResponded(message: UpstreamRespondedMessage): void {
    const client = this.#requests.get(message.session)?.client
    if (client === undefined) return
    const status = message.response.status
    client.setAttribute('http.response.status_code', status)
    if (status >= 400) {
      // Semconv: a client span's 4xx and 5xx are errors.
      client.setAttribute('error.type', String(status))
      client.setStatus({ code: SpanStatusCode.ERROR })
    }
  }

  #onUpstreamFailed(message: UpstreamFailedMessage): void {
    const session = message.session
    const spans = this.#requests.get(session)
    if (spans === undefined) return
    let client = spans.client
    if (client === undefined) {
      // The attempt failed before it had a connection: its span covers the connect.
      const start = session.timing.upstreamAttemptStart
      client = this.tracer.startSpan(
        session.requestHeader.method,
        {
          kind: SpanKind.CLIENT,
          startTime: start === undefined ? undefined : performance.timeOrigin + start,
          attributes: peerAttributes(message.peer, session.requestHeader.method, session.retries),
        },
        spans.context,
      )
    }
    recordError(client, message.error)
    client.setAttribute('pingora.retry', message.error.retry === true)
    client.end()
    spans.client = undefined
  }

  #onProxyError(message: ProxyErrorMessage): void {
    const spans = this.#requests.get(message.session)
    if (spans === undefined) return
    recordError(spans.server, message.error)
  }

  #onRequestFinished(message: RequestFinishedMessage): void {
    const session = message.session
    const spans = this.#requests.get(session)
    if (spans === undefined) return
    this.#requests.delete(session)
    const end = session.timing.end
    const endTime = end === undefined ? undefined : performance.timeOrigin + end
    spans.client?.end(endTime)
    const server = spans.server
    const status = message.status
    if (status !== undefined) server.setAttribute('http.response.status_code', status)
    if (message.retries > 1) server.setAttribute('http.request.resend_count', message.retries - 1)
    if (message.error !== undefined) {
      server.setAttribute('error.type', message.error.type)
      server.setStatus({ code: SpanStatusCode.ERROR, message: message.error.message })
    } else if (status !== undefined && status >= 500) {
      // Semconv: a server span's 5xx is an error; a 4xx is the client's.
      server.setAttribute('error.type', String(status))
      server.setStatus({ code: SpanStatusCode.ERROR })
    }
    server.end(endTime)
  }
}

function peerAttributes(
  peer: HttpPeer,
  method: string,
  attempt: number,
): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {
    'http.request.method': method,
    'url.scheme': peer.isTls() ? 'https' : 'http',
  }
  const address = peer.address
  if (address.kind === 'inet') {
    attributes['server.address'] = address.host
    attributes['server.port'] = address.port
  } else {
    attributes['server.address'] = address.path
  }
  if (attempt > 1) attributes['http.request.resend_count'] = attempt - 1
  return attributes
}

function recordError(span: Span, error: PingoraError): void {
  span.recordException(error)
  span.setAttribute('error.type', error.type)
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message })
}

function pathOf(uri: string): string {
  const query = uri.indexOf('?')
  return query === -1 ? uri : uri.slice(0, query)
}

function queryOf(uri: string): string | undefined {
  const query = uri.indexOf('?')
  return query === -1 ? undefined : uri.slice(query + 1)
}

function splitHost(host: string): { name: string; port: number | undefined } {
  // `[::1]:8080`, `example.com:8080`, `example.com`
  const close = host.lastIndexOf(']')
  const colon = host.lastIndexOf(':')
  if (colon > close) {
    const port = Number(host.slice(colon + 1))
    return {
      name: host.slice(host.startsWith('[') ? 1 : 0, close > 0 ? close : colon),
      port: Number.isInteger(port) ? port : undefined,
    }
  }
  return { name: host.startsWith('[') ? host.slice(1, close) : host, port: undefined }
}
