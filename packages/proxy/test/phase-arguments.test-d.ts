import type { HttpPeer } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import type { FailToProxy, ProxyHttp, Session } from '@pingora-ts/proxy'
import { describe, expectTypeOf, test } from 'vitest'

// `ctx` sits in a different position in different phases (Pingora's orders). Phases are
// function-typed properties, so their parameters are checked strictly (no method bivariance):
// swapping `ctx` and `error` is a compile error even when `Ctx` is `unknown`.

const peerless = (): HttpPeer => {
  throw new Error('unused')
}

describe('phase arguments in Pingora order', () => {
  test('the right orders compile, with the default Ctx and a concrete one', () => {
    class Right implements ProxyHttp {
      newCtx(): unknown {
        return undefined
      }
      upstreamPeer = peerless
      logging(_session: Session, _error: PingoraError | undefined, _ctx: unknown): void {}
      failToConnect(_s: Session, _p: HttpPeer, _ctx: unknown, error: PingoraError): PingoraError {
        return error
      }
      errorWhileProxy(
        _peer: HttpPeer,
        _s: Session,
        error: PingoraError,
        _ctx: unknown,
        _reused: boolean,
      ): PingoraError {
        return error
      }
      suppressErrorLog(_s: Session, _ctx: unknown, _error: PingoraError): boolean {
        return false
      }
    }
    expectTypeOf<Right>().toExtend<ProxyHttp>()

    interface Ctx {
      id: number
    }
    const app = {
      newCtx: (): Ctx => ({ id: 1 }),
      upstreamPeer: peerless,
      failToProxy(_s: Session, error: PingoraError, ctx: Ctx): FailToProxy {
        return { errorCode: ctx.id + (error.status ?? 0), canReuseDownstream: false }
      },
    } satisfies ProxyHttp<Ctx>
    expectTypeOf(app).toExtend<ProxyHttp<Ctx>>()
  })

  test('ctx and error swapped: logging (default Ctx = unknown)', () => {
    class Swapped implements ProxyHttp {
      newCtx(): unknown {
        return undefined
      }
      upstreamPeer = peerless
      // @ts-expect-error: logging is (session, error, ctx)
      logging(_session: Session, _ctx: unknown, _error: PingoraError): void {}
    }
    expectTypeOf<Swapped>().not.toBeAny()
  })

  test('ctx and error swapped: failToConnect (default Ctx = unknown)', () => {
    class Swapped implements ProxyHttp {
      newCtx(): unknown {
        return undefined
      }
      upstreamPeer = peerless
      // @ts-expect-error: failToConnect is (session, peer, ctx, error)
      failToConnect(_s: Session, _p: HttpPeer, error: PingoraError, _ctx: unknown): PingoraError {
        return error
      }
    }
    expectTypeOf<Swapped>().not.toBeAny()
  })

  test('ctx and error swapped: errorWhileProxy (default Ctx = unknown)', () => {
    class Swapped implements ProxyHttp {
      newCtx(): unknown {
        return undefined
      }
      upstreamPeer = peerless
      // @ts-expect-error: errorWhileProxy is (peer, session, error, ctx, reused)
      errorWhileProxy(
        _peer: HttpPeer,
        _s: Session,
        _ctx: unknown,
        error: PingoraError,
        _reused: boolean,
      ): PingoraError {
        return error
      }
    }
    expectTypeOf<Swapped>().not.toBeAny()
  })

  test('ctx and error swapped: failToProxy and suppressErrorLog in an object literal', () => {
    const failSwapped = {
      newCtx: () => undefined as unknown,
      upstreamPeer: peerless,
      // @ts-expect-error: failToProxy is (session, error, ctx)
      failToProxy: (_s: Session, _ctx: unknown, _error: PingoraError): FailToProxy => ({
        errorCode: undefined,
        canReuseDownstream: false,
      }),
    } satisfies ProxyHttp
    expectTypeOf(failSwapped).not.toBeAny()

    const suppressSwapped = {
      newCtx: () => undefined as unknown,
      upstreamPeer: peerless,
      // @ts-expect-error: suppressErrorLog is (session, ctx, error)
      suppressErrorLog: (_s: Session, _error: PingoraError, _ctx: unknown) => false,
    } satisfies ProxyHttp
    expectTypeOf(suppressSwapped).not.toBeAny()
  })

  test('a ctx of the wrong type is rejected', () => {
    interface Ctx {
      id: number
    }
    class WrongCtx implements ProxyHttp<Ctx> {
      newCtx(): Ctx {
        return { id: 1 }
      }
      upstreamPeer = peerless
      // @ts-expect-error: the third argument of logging is the Ctx, not a string
      logging(_session: Session, _error: PingoraError | undefined, _ctx: string): void {}
    }
    expectTypeOf<WrongCtx>().not.toBeAny()
  })
})

describe('engine-owned counters are read-only to phases', () => {
  test('retries, byte counters and upstreamHeaderSent cannot be assigned', () => {
    const phase = (session: Session): number => {
      // @ts-expect-error: the engine counts attempts
      session.retries = 0
      // @ts-expect-error: the engine counts received bytes
      session.upstreamBodyBytesReceived += 1
      // @ts-expect-error: the engine records when the header was sent
      session.upstreamHeaderSent = true
      // @ts-expect-error: read from the downstream session
      session.bodyBytesSent = 0
      return session.retries + session.upstreamBodyBytesReceived
    }
    expectTypeOf(phase).returns.toBeNumber()
  })
})
