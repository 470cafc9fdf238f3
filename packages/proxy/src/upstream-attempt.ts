import type { ClientSession, HttpPeer } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import { type AttemptStopReason, channels } from './diagnostics.ts'
import type { UpstreamRetryPolicy, UpstreamRetryState } from './retry.ts'
import type { Session } from './session.ts'

/** Where an attempt is: choosing its peer, connecting, or exchanging on a connection. */
export type AttemptStage = 'peer' | 'connect' | 'proxy'

/**
 * The attempts of one request that race each other (hedging): the first response header wins
 * and the others are cancelled.
 * @internal
 */
export class AttemptRace {
  /** The attempts still running. */
  readonly running: AttemptGuard[] = []
  /** The attempt whose response header came first. */
  winner: AttemptGuard | undefined = undefined

  /** Makes `guard` the winner and cancels the others. */
  won(guard: AttemptGuard): void {
    this.winner = guard
    for (const other of this.running) {
      if (other !== guard) other.cancel()
    }
  }
}

/**
 * One upstream attempt under a retry policy: its timer (the per-attempt timeout, cut to what
 * is left of the deadline), what it reached, and how it is stopped. A stopped attempt that holds
 * a connection has it closed (HTTP/1: the socket; HTTP/2: RST_STREAM CANCEL), so the exchange
 * unwinds at once and the connection never goes back to the pool; one still choosing its peer or
 * connecting is left behind (`stoppedEarly` resolves) and drops what it gets.
 * @internal
 */
export class AttemptGuard {
  /** What the attempt reached. */
  stage: AttemptStage = 'peer'
  /** Its peer, once chosen. */
  peer: HttpPeer | undefined = undefined
  /** Its upstream session, once attached. */
  client: ClientSession | undefined = undefined
  /** Why it was stopped (timeout, deadline, lost race); `undefined` while it runs. */
  error: PingoraError | undefined = undefined
  /** Whether it lost a hedging race (the user's phases do not see its failure). */
  cancelled = false
  /** Whether its response header was taken (the timer is off, nothing stops it any more). */
  claimed = false
  /** Resolves with this guard when it is stopped before it has a connection. */
  readonly stoppedEarly: Promise<AttemptGuard>
  readonly state: UpstreamRetryState
  readonly #session: Session
  readonly #race: AttemptRace | undefined
  readonly #attempt: number
  #wake: ((guard: AttemptGuard) => void) | undefined
  #cancelTimer: (() => void) | undefined = undefined

  /**
   * @param session - the proxy session
   * @param state - the request's retry state
   * @param attempt - the attempt's number (1 = first)
   * @param race - the hedging race it runs in, if any
   */
  constructor(
    session: Session,
    state: UpstreamRetryState,
    attempt: number,
    race: AttemptRace | undefined,
  ) {
    this.#session = session
    this.state = state
    this.#attempt = attempt
    this.#race = race
    this.stoppedEarly = new Promise((resolve) => {
      this.#wake = resolve
    })
    race?.running.push(this)
  }

  /** The attempt's number (1 = first). */
  get attempt(): number {
    return this.#attempt
  }

  /**
   * Arms the attempt's timer.
   * @param policy - the policy (its timer)
   * @param ms - the attempt's time
   */
  arm(policy: UpstreamRetryPolicy, ms: number): void {
    this.#cancelTimer = policy.setTimer(() => {
      this.#cancelTimer = undefined
      const deadline = this.state.deadlineError()
      const error =
        deadline ??
        PingoraError.upstream(
          this.stage === 'proxy' ? ErrorType.ReadTimedout : ErrorType.ConnectTimedout,
          `per-attempt timeout of ${ms} ms`,
        )
      this.stop(error, deadline !== undefined ? 'deadline' : 'timeout')
    }, ms)
  }

  /**
   * Attaches the attempt's upstream session; `false` when the attempt was stopped already (the
   * caller closes the session).
   * @param client - the upstream session
   */
  attach(client: ClientSession): boolean {
    if (this.error !== undefined) return false
    this.client = client
    this.stage = 'proxy'
    return true
  }

  /**
   * The final response header arrived: the attempt goes on to the client unless it was stopped,
   * its status is one the policy retries, or another attempt won.
   * @param status - the upstream's status
   * @throws PingoraError why the attempt ends here
   */
  claim(status: number): void {
    if (this.error !== undefined) throw this.error
    const race = this.#race
    if (race !== undefined && race.winner !== undefined) {
      this.cancel()
      throw this.error as unknown as PingoraError
    }
    this.state.checkResponse(status)
    this.claimed = true
    this.disarm()
    if (race !== undefined) race.won(this)
  }

  /** Cancels the attempt: it lost a hedging race. */
  cancel(): void {
    if (this.error !== undefined || this.claimed) return
    this.cancelled = true
    this.stop(
      PingoraError.upstream(
        ErrorType.ConnectionClosed,
        'cancelled: another attempt answered first',
      ),
      'cancelled',
    )
  }

  /**
   * Stops the attempt with `error`.
   * @param error - why
   * @param reason - published on `pingora:attempt:stopped`
   */
  stop(error: PingoraError, reason: AttemptStopReason): void {
    if (this.error !== undefined || this.claimed) return
    this.error = error
    this.disarm()
    if (channels.attemptStopped.hasSubscribers) {
      channels.attemptStopped.publish({
        session: this.#session,
        attempt: this.#attempt,
        reason,
        error,
      })
    }
    const client = this.client
    if (client !== undefined) client.shutdown()
    else this.#wake?.(this)
  }

  /** Turns the timer off. */
  disarm(): void {
    const cancel = this.#cancelTimer
    if (cancel !== undefined) {
      this.#cancelTimer = undefined
      cancel()
    }
  }

  /** The attempt is over: unregisters it from its race. */
  done(): void {
    this.disarm()
    const race = this.#race
    if (race !== undefined) {
      const i = race.running.indexOf(this)
      if (i >= 0) race.running.splice(i, 1)
    }
  }
}
