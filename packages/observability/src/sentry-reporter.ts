import diagnosticsChannel from 'node:diagnostics_channel'
import {
  CHANNEL_NAMES as CORE_CHANNELS,
  type ConnectionErrorMessage,
  type ServerErrorMessage,
} from '@pingora-ts/core'
import { PingoraError } from '@pingora-ts/error'
import {
  CHANNEL_NAMES as LB_CHANNELS,
  type LoadBalancerErrorMessage,
} from '@pingora-ts/load-balancing'
import { CHANNEL_NAMES as PROXY_CHANNELS, type ProxyErrorMessage } from '@pingora-ts/proxy'

/**
 * What {@link SentryReporter} needs of Sentry: `captureException` with a capture context. The
 * `@sentry/node` module itself fits (`import * as Sentry from '@sentry/node'`), once
 * `Sentry.init` was called; so does any client with the same method.
 */
export interface SentryClient {
  /**
   * Reports an exception.
   * @param exception - the error
   * @param captureContext - tags, contexts and level of the event
   */
  captureException(
    exception: unknown,
    captureContext?: {
      level?: 'fatal' | 'error' | 'warning'
      tags?: Record<string, string>
      contexts?: Record<string, Record<string, unknown>>
    },
  ): string
}

/**
 * Reports unexpected errors to Sentry (Pingora's `Server.sentry`): a phase that threw, a
 * request that failed for an internal reason (not an upstream or client failure, which are the
 * proxy's normal business and belong to logs and metrics), a service that failed, an exception
 * in an app, a failing load-balancer callback. Each event carries the request summary, the
 * status sent, the tries and the phase, and the error's cause chain.
 *
 * `@sentry/node` is an optional peer dependency: pass the module after `Sentry.init(...)`.
 *
 * @example
 * ```ts
 * import * as Sentry from '@sentry/node'
 * Sentry.init({ dsn: process.env.SENTRY_DSN })
 * new SentryReporter(Sentry).enable()
 * ```
 */
export class SentryReporter {
  /** The Sentry client events go to. */
  readonly sentry: SentryClient
  #subscriptions: Array<[string, (message: unknown) => void]> = []

  /**
   * Wraps a Sentry client; call {@link SentryReporter.enable} to start reporting.
   * @param sentry - `@sentry/node`, initialised
   */
  constructor(sentry: SentryClient) {
    this.sentry = sentry
  }

  /**
   * Subscribes to the diagnostics channels. Idempotent.
   * @returns this
   */
  enable(): this {
    if (this.#subscriptions.length > 0) return this
    this.#subscriptions = [
      [PROXY_CHANNELS.proxyError, (m) => this.#onProxyError(m as ProxyErrorMessage)],
      [CORE_CHANNELS.serverError, (m) => this.#onServerError(m as ServerErrorMessage)],
      [CORE_CHANNELS.connectionError, (m) => this.#onConnectionError(m as ConnectionErrorMessage)],
      [LB_CHANNELS.loadBalancerError, (m) => this.#onLbError(m as LoadBalancerErrorMessage)],
    ]
    for (const [name, listener] of this.#subscriptions) diagnosticsChannel.subscribe(name, listener)
    return this
  }

  /** Unsubscribes from the channels. */
  disable(): void {
    for (const [name, listener] of this.#subscriptions) {
      diagnosticsChannel.unsubscribe(name, listener)
    }
    this.#subscriptions = []
  }

  #onProxyError(message: ProxyErrorMessage): void {
    const error = message.error
    // Upstream and client failures are the proxy's normal business; only internal ones and
    // throwing phases are bugs worth an event.
    if (message.phase === undefined && error.source !== 'internal') return
    const request: Record<string, unknown> = {
      summary: message.summary,
      tries: message.retries,
    }
    if (message.status !== undefined) request.status = message.status
    if (message.phase !== undefined) request.phase = message.phase
    this.#capture(error, { request }, message.phase)
  }

  #onServerError(message: ServerErrorMessage): void {
    this.#capture(message.error, { server: { service: message.service ?? 'unknown' } }, undefined)
  }

  #onConnectionError(message: ConnectionErrorMessage): void {
    const error = message.error
    // Handshake failures and client errors are normal; an exception in the app is not.
    if (!PingoraError.is(error) || error.source !== 'internal') return
    this.#capture(
      error,
      { connection: { service: message.service ?? 'unknown', peer: message.peer ?? '-' } },
      undefined,
    )
  }

  #onLbError(message: LoadBalancerErrorMessage): void {
    this.#capture(message.error, { loadBalancer: { phase: message.phase } }, message.phase)
  }

  #capture(
    error: unknown,
    contexts: Record<string, Record<string, unknown>>,
    phase: string | undefined,
  ): void {
    const tags: Record<string, string> = {}
    if (PingoraError.is(error)) {
      tags.error_type = error.type
      tags.error_source = error.source
    }
    if (phase !== undefined) tags.phase = phase
    try {
      this.sentry.captureException(error, { level: 'error', tags, contexts })
    } catch {
      // A failing reporter must not break the request path that published the error.
    }
  }
}
